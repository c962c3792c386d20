"""Command-line front end of the typed configs: ``--config FILE.json`` + ``--key value`` overrides.

Entry scripts use :func:`parse_cli` inside :func:`exit_on_config_error`::

    with exit_on_config_error():
        cfg, args = parse_cli(TrainConfig, description=__doc__, add_arguments=add_flags)
    # a bad config prints "error: <one line>" to stderr and exits with status 1

``--help`` lists the script's own flags and every config option with its type, default and help.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import functools
import inspect
import json
import sys
import textwrap
import typing
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn, TypeVar

from .loader import MAX_DEPTH, ConfigError, load_with_flags, plain_value, schema_of, section_class, type_name

__all__ = ["describe_options", "exit_on_config_error", "parse_cli"]

T = TypeVar("T")


@functools.cache
def _attribute_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (string literal right after a field) of ``cls`` and bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue  # no source (REPL, exec): help just lacks the text
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, nxt in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[node.target.id] = inspect.cleandoc(nxt.value.value)
    return docs


def _show_default(value: Any) -> str:
    try:
        text = json.dumps(plain_value(value, ""), separators=(", ", ": "))
    except TypeError:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(cls: type, prefix: str, base: Any, flag: str, depth: int, lines: list[str]) -> None:
    docs = _attribute_docs(cls)
    # Items of a list of sections are set in the file only: no `--`, indented deeper.
    indent = "  " if flag else "    "
    wrap = textwrap.TextWrapper(
        width=88, initial_indent=indent + " " * 6, subsequent_indent=indent + " " * 6
    )
    for spec in schema_of(cls).fields:
        full = prefix + spec.name
        if base is not None:
            default: Any = getattr(base, spec.name)
        else:
            default = spec.default()
        shown = "(required)" if default is dataclasses.MISSING else f"= {_show_default(default)}"
        help_text = str(spec.field.metadata.get("help") or docs.get(spec.name, ""))
        section = section_class(spec.type)
        if section is not None and depth < MAX_DEPTH:
            # A section: list its options instead of its (long) JSON default.
            lines.append(f"{indent}{flag}{full}  {type_name(spec.type)} section:")
        else:
            lines.append(f"{indent}{flag}{full}  {type_name(spec.type)} {shown}")
        lines.extend(wrap.wrap(help_text))
        if spec.aliases:
            lines.extend(wrap.wrap(f"also accepted as: {', '.join(spec.aliases)}"))
        if section is not None and depth < MAX_DEPTH:
            child_base = default if isinstance(default, section) else None
            _describe(section, full + ".", child_base, flag, depth + 1, lines)
            continue
        origin, args = typing.get_origin(spec.type), typing.get_args(spec.type)
        elem = args[0] if origin in (list, tuple) and args else None
        if origin is dict and len(args) == 2:
            elem = args[1]
        elem_cls = section_class(elem) if elem is not None else None
        if elem_cls is not None and depth < MAX_DEPTH:
            item = f"{full}[i]." if origin is not dict else f"{full}.<key>."
            _describe(elem_cls, item, None, "", depth + 1, lines)


def describe_options(schema: type) -> str:
    """Text listing every option of ``schema``: dotted name, type, default and help.

    Used as the ``--help`` epilog by :func:`parse_cli`.

    Args:
        schema: The root config dataclass type.

    Returns:
        Multi-line text.
    """
    lines = [
        "config options (keys of the --config JSON file; override one with --name VALUE",
        "or --name=VALUE; lists and sections as JSON, lists of numbers also as 1,2):",
    ]
    _describe(schema, "", None, "--", 0, lines)
    return "\n".join(lines)


class _RaisingParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise ConfigError instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{self.prog}: {message}")


def parse_cli(
    schema: type[T],
    argv: Sequence[str] | None = None,
    description: str = "",
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> tuple[T, argparse.Namespace]:
    """Parse an entry script's command line into a config and the script flags.

    The parser knows ``--config FILE.json`` and whatever ``add_arguments`` adds
    (``--eval-only``, ``--checkpoint PATH``, ...). Every other token is a config
    override (see :func:`load_config`). Script flags must not be positional arguments,
    or they would swallow override values. ``--help`` lists the script flags and every
    config option, then exits.

    Args:
        schema: The root config dataclass type.
        argv: Arguments without the program name; None means ``sys.argv[1:]``.
        description: Shown at the top of ``--help``.
        add_arguments: Adds script-specific flags to the parser.

    Returns:
        ``(config, namespace)``; ``namespace.config`` is the file path (or None) and
        ``namespace.config_overrides`` the override tokens, for logging.

    Raises:
        ConfigError: Bad script flag, bad override or invalid config.
    """
    parser = _RaisingParser(
        description=description,
        epilog=describe_options(schema),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        # Prefix matching would let `--check 1` (a config override) hit `--checkpoint`.
        allow_abbrev=False,
    )
    parser.add_argument(
        "--config",
        metavar="FILE.json",
        help="JSON config file (default: the built-in defaults)",
    )
    if add_arguments is not None:
        add_arguments(parser)
    args, overrides = parser.parse_known_args(sys.argv[1:] if argv is None else list(argv))
    # Script flags join the "did you mean" candidates for a mistyped `--eval_only`.
    # argparse has no public accessor for its actions; `_actions` is stable since 2.7.
    flags = [s.lstrip("-") for a in parser._actions for s in a.option_strings]
    cfg = load_with_flags(schema, args.config, overrides, flags)
    args.config_overrides = list(overrides)
    return cfg, args


@contextlib.contextmanager
def exit_on_config_error() -> Iterator[None]:
    """Turn a ConfigError into ``error: <message>`` on stderr and exit status 1.

    Usable as ``with exit_on_config_error(): ...`` or as a decorator on ``main``.
    Other exceptions propagate with their traceback: those are bugs, not bad input.
    """
    try:
        yield
    except ConfigError as exc:
        sys.exit(f"error: {exc}")
