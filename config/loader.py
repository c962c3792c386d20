"""Typed configuration: JSON file + command-line overrides -> validated dataclass tree.

A config schema is a tree of ``@dataclass`` classes. This module turns a JSON file
(plus ``--dotted.key value`` overrides) into an instance of that tree, and rejects every
problem with a :class:`ConfigError` whose message is one line naming the file, the full
dotted option path and what was expected.

Precedence, lowest to highest: schema defaults < JSON file < command-line overrides.
A partial section in the file (``{"c_config": {"hidden_size": 256}}``) keeps every other
value of that section's *declared default*, even when the default comes from a
``default_factory`` that differs from the section class's own defaults.

Field metadata understood here (``dataclasses.field(metadata=...)``):

* ``"help"``: one-sentence description shown by ``--help``. An attribute docstring (a
  string literal on the line after the field) is used when ``"help"`` is absent.
* ``"aliases"``: other accepted key names, e.g. the misspelled
  ``hard_negtiave_start_step`` of the published HERO configs. Giving an alias *and* the
  real name is an error; :func:`to_dict` always writes the real name.

Entry scripts use the command-line front end in :mod:`config.cli`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import json
import os
import re
import tempfile
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar, Union

__all__ = [
    "ConfigError",
    "closest_key",
    "from_dict",
    "load_config",
    "save_config",
    "to_dict",
]

T = TypeVar("T")

_NONE_TYPE = type(None)
_TRUE_WORDS = frozenset({"true", "1", "yes"})
_FALSE_WORDS = frozenset({"false", "0", "no"})
_NULL_WORDS = frozenset({"null", "none"})
# Element types that may be given comma-separated on the command line (`--sizes 20,40`).
_SCALAR_TYPES = (int, float, str, bool)
# Nesting limit for walking schemas; guards the help/suggestion walkers against
# self-referential schemas.
MAX_DEPTH = 12


class ConfigError(ValueError):
    """A problem with user-supplied configuration (file, override or CLI flag).

    The message is always a single line so that an entry script can print it as-is.
    """

    def __init__(self, message: str) -> None:
        # Messages may embed text from user code (__post_init__) or from json; a
        # multi-line message would break the "exactly one line on stderr" contract.
        super().__init__(re.sub(r"\s*[\r\n]+\s*", " ", str(message)).strip())


class _Problem(Exception):
    """Internal: a problem found at a dotted option path, before the source is known."""

    def __init__(self, message: str, path: str, wrong_type: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.wrong_type = wrong_type  # the value itself has the wrong JSON type


# --------------------------------------------------------------------------------------
# Schema introspection
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _FieldSpec:
    name: str
    type: Any
    aliases: tuple[str, ...]
    field: dataclasses.Field

    @property
    def required(self) -> bool:
        return (
            self.field.default is dataclasses.MISSING
            and self.field.default_factory is dataclasses.MISSING
        )

    def default(self) -> Any:
        """The declared default (a fresh one for default_factory), or MISSING."""
        if self.field.default is not dataclasses.MISSING:
            return self.field.default
        if self.field.default_factory is not dataclasses.MISSING:
            return self.field.default_factory()
        return dataclasses.MISSING


@dataclasses.dataclass(frozen=True)
class _Schema:
    fields: tuple[_FieldSpec, ...]
    by_key: Mapping[str, _FieldSpec]  # real names and aliases

    def lookup(self, key: str) -> _FieldSpec | None:
        spec = self.by_key.get(key)
        if spec is None and "-" in key:
            # Accept argparse-style spelling on the command line: --learning-rate.
            spec = self.by_key.get(key.replace("-", "_"))
        return spec

    def suggest(self, key: str) -> str | None:
        match = closest_key(key, self.by_key)
        return None if match is None else self.by_key[match].name


@functools.cache
def schema_of(cls: type) -> _Schema:
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"config schema must be a dataclass type, got {cls!r}")
    try:
        hints = typing.get_type_hints(cls)
    except NameError as exc:
        # A programming error in the schema, not user input: keep it a TypeError.
        raise TypeError(f"cannot resolve type hints of {cls.__qualname__}: {exc}") from exc
    specs: list[_FieldSpec] = []
    by_key: dict[str, _FieldSpec] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue  # computed fields are not configurable
        aliases = f.metadata.get("aliases", ())
        if isinstance(aliases, str):
            aliases = (aliases,)
        spec = _FieldSpec(f.name, hints[f.name], tuple(aliases), f)
        specs.append(spec)
        for key in (f.name, *spec.aliases):
            if key in by_key:
                raise TypeError(f"{cls.__qualname__}: config key {key!r} is declared twice")
            by_key[key] = spec
    return _Schema(tuple(specs), by_key)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def section_class(tp: Any) -> type | None:
    """The dataclass behind ``tp`` or ``tp | None``, else None."""
    if _is_union(tp):
        members = [a for a in typing.get_args(tp) if a is not _NONE_TYPE]
        if len(members) != 1:
            return None
        tp = members[0]
    return tp if isinstance(tp, type) and dataclasses.is_dataclass(tp) else None


def type_name(tp: Any) -> str:
    """Human-readable type for messages and --help (``list[int]``, ``float | None``)."""
    if tp is Any:
        return "any"
    if tp is _NONE_TYPE:
        return "None"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if _is_union(tp):
        return " | ".join(type_name(a) for a in args)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return f"tuple[{type_name(args[0])}, ...]"
    if origin in (list, tuple, dict):
        return f"{origin.__name__}[{', '.join(type_name(a) for a in args)}]"
    return getattr(tp, "__name__", repr(tp))


def _show_value(value: Any) -> str:
    """``str 'abc'``-style description of an offending value, kept short."""
    if value is None:
        return "null"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def closest_key(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """Return the candidate most similar to ``name``, or None if none is close.

    Used for "did you mean" hints on unknown config options and checkpoint keys.

    Args:
        name: The unknown key.
        candidates: Valid keys.
        cutoff: Minimum ``difflib`` similarity ratio (0..1) for a match.

    Returns:
        The best match, or None.
    """
    pool = [c for c in candidates if isinstance(c, str)]
    lowered = name.lower()
    for candidate in pool:
        # Case-only differences score low in difflib but are the most obvious typo.
        if candidate.lower() == lowered:
            return candidate
    matches = difflib.get_close_matches(name, pool, n=1, cutoff=cutoff)
    return matches[0] if matches else None


# --------------------------------------------------------------------------------------
# dict -> dataclass
# --------------------------------------------------------------------------------------


def _mismatch(path: str, expected: str, value: Any) -> _Problem:
    return _Problem(
        f"option '{path}' must be {expected}, got {_show_value(value)}", path, wrong_type=True
    )


def _convert(value: Any, tp: Any, path: str, base: Any = None) -> Any:
    """Check ``value`` (JSON-like) against ``tp`` and build the typed value.

    ``base`` is the declared default of a dataclass-typed option: keys missing from a
    partial section are taken from it.
    """
    if tp is Any:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)

    if _is_union(tp):
        if value is None and _NONE_TYPE in args:
            return None
        members = [a for a in args if a is not _NONE_TYPE]
        for member in members:
            try:
                return _convert(value, member, path, base)
            except _Problem as problem:
                # For `X | None` keep a specific message (inside a list or section, or
                # a __post_init__ rule); only a plain type mismatch names the union.
                if len(members) == 1 and not (problem.wrong_type and problem.path == path):
                    raise
        raise _mismatch(path, type_name(tp), value)

    if tp is _NONE_TYPE:
        if value is None:
            return None
        raise _mismatch(path, "null", value)
    if tp is bool:
        # Strict: JSON 0/1 for a flag is almost always a mistake for a different option.
        if isinstance(value, bool):
            return value
        raise _mismatch(path, "bool (true/false)", value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _mismatch(path, "int", value)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _mismatch(path, "float", value)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _mismatch(path, "str", value)

    if origin is Literal:
        for allowed in args:
            # type() check: Literal[1] must not accept True, Literal["1"] not 1.
            if type(value) is type(allowed) and value == allowed:
                return allowed
        raise _mismatch(path, "one of " + ", ".join(repr(a) for a in args), value)

    if tp is list or origin is list:
        elem = args[0] if args else Any
        if not isinstance(value, (list, tuple)):
            raise _mismatch(path, f"a list ({type_name(tp)})", value)
        return [_convert(v, elem, f"{path}[{i}]") for i, v in enumerate(value)]

    if tp is tuple or origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _mismatch(path, f"a list ({type_name(tp)})", value)
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            elem = args[0] if args else Any
            return tuple(_convert(v, elem, f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise _Problem(
                f"option '{path}' must have {len(args)} items ({type_name(tp)}), "
                f"got {len(value)}",
                path,
            )
        return tuple(_convert(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))

    if tp is dict or origin is dict:
        key_type, val_type = args if args else (str, Any)
        if key_type not in (str, Any):
            raise TypeError(f"option '{path}': only dict[str, ...] is supported, got {tp!r}")
        if not isinstance(value, Mapping):
            raise _mismatch(path, f"a JSON object ({type_name(tp)})", value)
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Problem(f"option '{path}' keys must be strings, got {key!r}", path)
            out[key] = _convert(item, val_type, _join(path, key))
        return out

    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise _mismatch(path, f"a JSON object ({tp.__name__})", value)
        return _build(tp, value, path, base if isinstance(base, tp) else None)

    raise TypeError(f"option '{path}': unsupported config field type {tp!r}")


def _unknown_option(schema: _Schema, key: Any, path: str) -> _Problem:
    full = _join(path, str(key))
    suggestion = schema.suggest(key) if isinstance(key, str) else None
    if suggestion is not None:
        hint = f" (did you mean '{_join(path, suggestion)}'?)"
    elif len(schema.fields) <= 8:
        hint = f" (valid options: {', '.join(s.name for s in schema.fields)})"
    else:
        hint = " (no similar option)"
    return _Problem(f"unknown option '{full}'{hint}", full)


def _build(cls: type, data: Mapping[str, Any], path: str, base: Any) -> Any:
    """Build dataclass ``cls`` from mapping ``data``; missing keys come from ``base``."""
    schema = schema_of(cls)
    used_key: dict[str, str] = {}  # real name -> key actually written in the data
    for key in data:
        spec = schema.by_key.get(key) if isinstance(key, str) else None
        if spec is None:
            raise _unknown_option(schema, key, path)
        if spec.name in used_key:
            full = _join(path, spec.name)
            raise _Problem(
                f"option '{full}' is given twice, as '{used_key[spec.name]}' and as "
                f"'{key}' (an alias); keep one",
                full,
            )
        used_key[spec.name] = key

    kwargs: dict[str, Any] = {}
    for spec in schema.fields:
        sub_path = _join(path, spec.name)
        if spec.name in used_key:
            child_base = None
            if section_class(spec.type) is not None:
                child_base = getattr(base, spec.name) if base is not None else spec.default()
            value = data[used_key[spec.name]]
            kwargs[spec.name] = _convert(value, spec.type, sub_path, child_base)
        elif base is not None:
            kwargs[spec.name] = getattr(base, spec.name)
        elif spec.required:
            raise _Problem(f"missing required option '{sub_path}'", sub_path)
        # else: the dataclass constructor applies the declared default.

    try:
        return cls(**kwargs)
    except ValueError as exc:
        # Cross-field rules live in __post_init__ and raise ValueError.
        where = f"invalid section '{path}': " if path else ""
        raise _Problem(f"{where}{exc}", path) from exc


def from_dict(schema: type[T], data: Mapping[str, Any], source: str = "<dict>") -> T:
    """Build a config dataclass from a JSON-like mapping, validating every value.

    Args:
        schema: The root dataclass type.
        data: Option values; nested sections are mappings, lists are lists.
        source: Where ``data`` came from (a file path); prefixes every error message.

    Returns:
        An instance of ``schema``.

    Raises:
        ConfigError: Unknown or missing option, wrong type, alias conflict, or a
            ``ValueError`` from a schema's ``__post_init__``.
    """
    schema_of(schema)  # fail on a bad schema with TypeError before looking at data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: config must be a JSON object, got {_show_value(data)}")
    try:
        return _build(schema, data, "", None)
    except _Problem as problem:
        raise ConfigError(f"{source}: {problem}") from None


# --------------------------------------------------------------------------------------
# dataclass -> dict / file
# --------------------------------------------------------------------------------------


def plain_value(value: Any, path: str) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain_value(getattr(value, f.name), _join(path, f.name))
            for f in dataclasses.fields(value)
            if f.init
        }
    if isinstance(value, (list, tuple)):
        return [plain_value(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"option '{path}': JSON object keys must be str, got {key!r}")
            out[key] = plain_value(item, _join(path, key))
        return out
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"option '{path}': {type(value).__name__} is not JSON-serialisable")


def section(cfg: Any, cls: type[T]) -> T:
    """The part of a flat run config that one component uses, as that component's own dataclass
    (``section(cfg, WeightOptions)``): every field of ``cls`` is read from ``cfg`` by name."""
    return cls(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cls)})


def to_dict(cfg: Any) -> dict[str, Any]:
    """Convert a config dataclass to plain JSON-serialisable data (tuples become lists).

    Args:
        cfg: A config dataclass instance.

    Returns:
        A dict that :func:`from_dict` turns back into an equal config.

    Raises:
        TypeError: ``cfg`` is not a dataclass instance or holds a non-JSON value.
    """
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"to_dict expects a dataclass instance, got {type(cfg).__name__}")
    return plain_value(cfg, "")


def save_config(cfg: Any, path: str | os.PathLike[str]) -> None:
    """Write ``cfg`` as indented JSON, atomically.

    The JSON goes to a temporary file in the target directory, is fsync'ed, and then
    renamed over ``path`` with ``os.replace``, so a crash never leaves a truncated
    config.json beside a checkpoint.

    Args:
        cfg: A config dataclass instance.
        path: Destination file; its directory is created if needed.
    """
    text = json.dumps(to_dict(cfg), indent=2, ensure_ascii=False) + "\n"
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600; a config is meant to be shared like any other file.
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_path)
        raise
    if hasattr(os, "O_DIRECTORY"):
        # Persist the rename itself; best effort (not every filesystem allows it).
        with contextlib.suppress(OSError):
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


# --------------------------------------------------------------------------------------
# File loading and overrides
# --------------------------------------------------------------------------------------


class _DuplicateKey(Exception):
    pass


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json silently keeps the last duplicate; in a config that hides an edit.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except _DuplicateKey as exc:
        raise ConfigError(f"{path}: duplicate key '{exc.args[0]}' in a JSON object") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a JSON object, got {type(data).__name__}")
    return data


def _option_names(cls: type, prefix: str = "", depth: int = 0) -> dict[str, str]:
    """Every dotted key (real names and aliases) of ``cls`` -> its real dotted name."""
    names: dict[str, str] = {}
    for spec in schema_of(cls).fields:
        full = prefix + spec.name
        names[full] = full
        for alias in spec.aliases:
            names[prefix + alias] = full
        inner = section_class(spec.type)
        if inner is not None and depth < MAX_DEPTH:
            names.update(_option_names(inner, full + ".", depth + 1))
    return names


def _parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(text)


def _parse_text(text: str, tp: Any) -> Any:
    """Turn an override's string into a JSON-like value according to the field type.

    Raises:
        _Problem: with a message that does not name the option (the caller adds it).
    """
    if tp is Any:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if _is_union(tp):
        if _NONE_TYPE in args and text.strip().lower() in _NULL_WORDS:
            return None
        for member in (a for a in args if a is not _NONE_TYPE):
            try:
                return _parse_text(text, member)
            except _Problem:
                continue
        raise _Problem(f"must be {type_name(tp)}, got {text!r}", "")
    try:
        if tp is str:
            return text
        if tp is bool:
            return _parse_bool(text)
        if tp is int:
            return int(text.strip())
        if tp is float:
            return float(text.strip())
        if tp is _NONE_TYPE:
            if text.strip().lower() in _NULL_WORDS:
                return None
            raise ValueError(text)
        if origin is Literal:
            for allowed in args:
                if isinstance(allowed, bool):
                    with contextlib.suppress(ValueError):
                        if _parse_bool(text) is allowed:
                            return allowed
                elif isinstance(allowed, int):
                    with contextlib.suppress(ValueError):
                        if int(text.strip()) == allowed:
                            return allowed
                elif text == allowed:
                    return allowed
            raise _Problem(
                f"must be one of {', '.join(repr(a) for a in args)}, got {text!r}", ""
            )
    except ValueError:
        raise _Problem(f"must be {type_name(tp)}, got {text!r}", "") from None

    if tp in (list, tuple) or origin in (list, tuple):
        if text.strip().startswith("["):
            return _parse_json(text, "a JSON list")
        # Comma-separated form for lists of scalars: `--hard_pool_size 20,40`.
        if not args:
            elem_types: list[Any] = [str] * (text.count(",") + 1)
        elif origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            elem_types = list(args)
        else:
            elem_types = [args[0]] * (text.count(",") + 1)
        if all(_is_scalar(t) for t in elem_types):
            if not text.strip():
                return []
            parts = text.split(",")
            if len(parts) != len(elem_types):
                raise _Problem(
                    f"must have {len(elem_types)} comma-separated items, got {text!r}", ""
                )
            values = []
            for i, (part, elem) in enumerate(zip(parts, elem_types)):
                try:
                    values.append(_parse_text(part.strip(), elem))
                except _Problem as problem:
                    raise _Problem(f"item {i}: {problem}", "") from None
            return values
        raise _Problem(f"must be a JSON list ({type_name(tp)}), got {text!r}", "")

    if tp is dict or origin is dict or section_class(tp) is not None:
        value = _parse_json(text, "a JSON object")
        if not isinstance(value, dict):
            raise _Problem(f"must be a JSON object ({type_name(tp)}), got {text!r}", "")
        return value
    raise TypeError(f"unsupported config field type {tp!r}")


def _is_scalar(tp: Any) -> bool:
    if _is_union(tp):
        return all(a is _NONE_TYPE or _is_scalar(a) for a in typing.get_args(tp))
    return tp in _SCALAR_TYPES or typing.get_origin(tp) is Literal


def _parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Problem(f"must be {what}, got {text!r} (invalid JSON: {exc.msg})", "") from None


def _split_overrides(tokens: Sequence[str]) -> list[tuple[str, str]]:
    """``["--a", "1", "--b=2"]`` -> ``[("a", "1"), ("b", "2")]``."""
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or token in ("--", "--="):
            raise ConfigError(
                f"unexpected argument {token!r}: config overrides look like "
                f"--name VALUE or --name=VALUE"
            )
        if "=" in token:
            key, value = token[2:].split("=", 1)
            i += 1
        else:
            key = token[2:]
            # A following `--x` is the next option, not a value (negative numbers
            # start with a single dash and are fine).
            if i + 1 >= len(tokens) or tokens[i + 1].startswith("--"):
                raise ConfigError(f"--{key}: missing value (use --{key} VALUE or --{key}=VALUE)")
            value = tokens[i + 1]
            i += 2
        if not key or key.startswith(".") or key.endswith(".") or ".." in key:
            raise ConfigError(f"--{key}: malformed option name")
        pairs.append((key, value))
    return pairs


def _dict_value_type(tp: Any) -> Any:
    """The value type of ``dict[str, X]`` or ``dict[str, X] | None``, else None."""
    if _is_union(tp):
        members = [a for a in typing.get_args(tp) if a is not _NONE_TYPE]
        if len(members) != 1:
            return None
        tp = members[0]
    if tp is dict:
        return Any
    if typing.get_origin(tp) is dict:
        return typing.get_args(tp)[1]
    return None


def _apply_override(
    schema: type, data: dict[str, Any], key: str, text: str, extra_names: Sequence[str]
) -> None:
    """Set one ``--key value`` override into the raw ``data`` dict, validating it."""
    tp: Any = schema
    container = data
    real_path = ""
    base: Any = None
    segments = key.split(".")
    for depth, segment in enumerate(segments):
        last = depth == len(segments) - 1
        section = section_class(tp)
        if section is not None:
            spec = schema_of(section).lookup(segment)
            if spec is None:
                candidates = [*_option_names(schema), *extra_names]
                match = closest_key(key, candidates)
                if match is None:
                    # Fall back to the siblings: `--optim.lr_x` -> `--optim.lr`.
                    sibling = schema_of(section).suggest(segment)
                    match = _join(real_path, sibling) if sibling else None
                else:
                    match = _option_names(schema).get(match, match)
                hint = f" (did you mean --{match}?)" if match else ""
                raise ConfigError(f"--{key}: unknown config option{hint}")
            real_path = _join(real_path, spec.name)
            # The override replaces whatever key (name or alias) the file used.
            previous = None
            for name in (spec.name, *spec.aliases):
                if name in container:
                    previous = container.pop(name)
            base = spec.default() if section_class(spec.type) is not None else None
            if previous is None and not last and _dict_value_type(spec.type) is not None:
                # `--tasks.mlm.weight 2` edits one entry of a dict option; keep the
                # other entries of its declared default rather than dropping them.
                default = spec.default()
                previous = plain_value(default, real_path) if isinstance(default, Mapping) else None
            tp = spec.type
            name = spec.name
        elif tp is Any or _dict_value_type(tp) is not None:
            real_path = _join(real_path, segment)
            previous = container.get(segment)
            tp = Any if tp is Any else _dict_value_type(tp)
            base = None
            name = segment
        else:
            raise ConfigError(
                f"--{key}: option '{real_path}' is {type_name(tp)} and has no "
                f"sub-option '{segment}'"
            )
        if last:
            try:
                value = _parse_text(text, tp)
                # Validate now so a bad value is reported against the override,
                # not against the config file it is merged into.
                _convert(value, tp, real_path, base)
            except _Problem as problem:
                raise ConfigError(f"--{key}: {problem}") from None
            container[name] = value
        else:
            child = previous if isinstance(previous, dict) else {}
            container[name] = child
            container = child


def load_config(
    schema: type[T],
    path: str | os.PathLike[str] | None,
    overrides: Sequence[str] = (),
) -> T:
    """Load a JSON config file, apply command-line overrides and validate.

    Args:
        schema: The root config dataclass type.
        path: JSON file whose top level maps onto ``schema``; None starts from the
            schema defaults.
        overrides: argv-style tokens, ``["--optim.lr", "1e-4", "--fp16=true"]``. The
            value is parsed by the target field's type: str literally; int/float;
            bool from true/false/1/0/yes/no; ``null``/``none`` for optional fields;
            lists, dicts and sections as JSON; lists of scalars also as ``20,40``.

    Returns:
        An instance of ``schema``.

    Raises:
        ConfigError: Unreadable or invalid file, bad override, or invalid config.
    """
    return load_with_flags(schema, path, overrides, ())


def load_with_flags(
    schema: type[T],
    path: str | os.PathLike[str] | None,
    overrides: Sequence[str],
    extra_names: Sequence[str],
) -> T:
    schema_of(schema)
    if path is None:
        data: dict[str, Any] = {}
        source = "command-line overrides" if overrides else "defaults"
    else:
        source = os.fspath(path)
        data = _read_json(source)
        if overrides:
            # A cross-field error may come from the file, an override or both.
            source += " with command-line overrides"
    for key, text in _split_overrides(list(overrides)):
        _apply_override(schema, data, key, text, extra_names)
    return from_dict(schema, data, source)
