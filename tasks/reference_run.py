"""The reference HERO's evaluation command lines, translated into this library's options (hero-reference.md
§4.2, §6), so a user holding the released files types what the reference README says::

    python inf_vcmr.py --query_txt_db TXT/tvr_val.db --split val --vfeat_db VIDEO/tv \
        --sub_txt_db TXT/tv_subtitles.db --output_dir FINETUNE/tvr_default --checkpoint 4800 --fp16

As the reference evaluation scripts do, the model and task options come from the fine-tuning run's
``{output_dir}/log/hps.json`` (its ``log/model_config.json`` is the model JSON); the command line sets only
the dbs, the split, the checkpoint (``--checkpoint N`` = ``{output_dir}/ckpt/model_step_N.pt``, or a path),
``--fp16``, ``--batch_size``, ``--n_workers`` and ``--pin_mem``. The result is an ordinary argument list for
:func:`config.cli.parse_cli`: every option from ``hps.json`` becomes a ``--name=value`` override, and
tokens this module does not know (``--precision bf16``, a script's own flags) pass through after them.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from config.loader import ConfigError, schema_of

# hps.json keys the evaluation never takes from the training run: the command line decides them (fp16, the
# dbs, the weights), or they describe the training run only (its init checkpoint, its rank).
NOT_FROM_TRAINING = {"checkpoint", "output_dir", "fp16", "precision", "model_config", "rank", "backend",
                     "sub_txt_db", "vfeat_db", "train_query_txt_db", "val_query_txt_db", "test_query_txt_db",
                     "n_workers", "pin_mem", "text_init", "demo_corpus"}
DEFAULT_MODEL_CONFIG = "config/hero_finetune.json"


def is_reference_command_line(argv: Sequence[str]) -> bool:
    """A reference evaluation command line: no ``--config``, and ``--query_txt_db`` or ``--checkpoint N``."""
    flags = [token.split("=", 1)[0] for token in argv if token.startswith("--")]
    if "--config" in flags:
        return False
    return "--query_txt_db" in flags or _checkpoint_value(argv).isdigit()


def _checkpoint_value(argv: Sequence[str]) -> str:
    for i, token in enumerate(argv):
        if token.startswith("--checkpoint="):
            return token.split("=", 1)[1]
        if token == "--checkpoint" and i + 1 < len(argv):
            return argv[i + 1]
    return ""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--query_txt_db")
    parser.add_argument("--split", default="val")
    parser.add_argument("--sub_txt_db")
    parser.add_argument("--vfeat_db")
    parser.add_argument("--output_dir")
    parser.add_argument("--checkpoint")
    parser.add_argument("--fp16", action="store_true")
    parser.add_argument("--batch_size", type=int)
    parser.add_argument("--n_workers", type=int)
    parser.add_argument("--pin_mem", action="store_true")
    return parser


def reference_command_line(argv: Sequence[str], schema: type, split_options: Mapping[str, str],
                           batch_option: str) -> list[str]:
    """``argv`` as this library's arguments; unchanged unless :func:`is_reference_command_line`.

    Args:
        argv: the script's arguments (without the program name).
        schema: the script's config class (which ``hps.json`` keys it knows).
        split_options: split → option naming its query db (``{"val": "val_query_txt_db", …}``).
        batch_option: the option ``--batch_size`` sets (queries per evaluation batch).

    Raises:
        ConfigError: no ``--output_dir``, no ``log/hps.json`` there, no such checkpoint, an unknown split.
    """
    argv = list(argv)
    if not is_reference_command_line(argv):
        return argv
    args, rest = _parser().parse_known_args(argv)
    if not args.output_dir:
        raise ConfigError("--checkpoint N / --query_txt_db (reference command line) need --output_dir: the "
                          "fine-tuning run whose log/hps.json holds the options")
    run = Path(args.output_dir)
    hps_path = run / "log" / "hps.json"
    if not hps_path.is_file():
        raise ConfigError(f"{hps_path} not found: a reference command line takes the model and task options "
                          "from the fine-tuning run's log/hps.json (pass --config FILE.json otherwise)")
    try:
        hps = json.loads(hps_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"{hps_path}: not readable JSON ({error})") from None
    if not isinstance(hps, dict):
        raise ConfigError(f"{hps_path}: expected a JSON object of options")
    if args.split not in split_options:
        raise ConfigError(f"--split {args.split!r}: expected one of {', '.join(split_options)}")
    overrides, ignored = _training_options(hps, schema)
    checkpoint = _checkpoint_path(run, args.checkpoint)
    overrides += [f"--checkpoint={checkpoint}", f"--output_dir={run}", f"--model_config={_model_config(run, hps)}"]
    query_db = args.query_txt_db or hps.get(split_options[args.split])
    for name, value in (("sub_txt_db", args.sub_txt_db or hps.get("sub_txt_db")),
                        ("vfeat_db", args.vfeat_db or hps.get("vfeat_db")),
                        (split_options[args.split], query_db)):
        if value:
            overrides.append(f"--{name}={value}")
    if args.fp16:
        overrides.append("--fp16=true")
    if args.batch_size is not None:
        overrides.append(f"--{batch_option}={args.batch_size}")
    if args.n_workers is not None:
        overrides.append(f"--n_workers={args.n_workers}")
    if args.pin_mem:
        overrides.append("--pin_mem=true")
    _say(f"reference run {run}: options from {hps_path}, weights {checkpoint}"
         + (f" (hps.json keys this library does not use: {', '.join(sorted(ignored))})" if ignored else ""))
    return [*overrides, "--split", args.split, *rest]


def _training_options(hps: Mapping[str, Any], schema: type) -> tuple[list[str], list[str]]:
    """``--name=value`` for every option of ``hps`` that ``schema`` knows, and the keys left out."""
    known = schema_of(schema)
    given = {key for key in hps if known.lookup(key) is not None}
    overrides, ignored = [], []
    for key, value in hps.items():
        spec = known.lookup(key)
        if spec is None:
            ignored.append(key)
            continue
        if key in NOT_FROM_TRAINING or value is None:
            continue
        if key != spec.name and spec.name in given:
            continue  # an alias beside its option: the reference read the option (vcmr_eval_batch_size)
        text = value if isinstance(value, str) else json.dumps(value)
        overrides.append(f"--{key}={text}")
    return overrides, ignored


def _checkpoint_path(run: Path, value: str | None) -> Path:
    if not value:
        raise ConfigError(f"--checkpoint is required: a step N (= {run}/ckpt/model_step_N.pt) or a file")
    path = run / "ckpt" / f"model_step_{value}.pt" if value.isdigit() else Path(value)
    if not path.is_file():
        raise ConfigError(f"--checkpoint {value}: {path} not found")
    return path


def _model_config(run: Path, hps: Mapping[str, Any]) -> str:
    """The run's ``log/model_config.json`` (the reference saves the model JSON there), else ``hps.json``'s
    ``model_config`` if that file exists here, else the released model config of the fine-tuned models."""
    saved = run / "log" / "model_config.json"
    if saved.is_file():
        return str(saved)
    named = hps.get("model_config")
    return named if isinstance(named, str) and Path(named).is_file() else DEFAULT_MODEL_CONFIG


def _say(message: str) -> None:
    """Print once per job (before the distributed session exists, rank is read from the launcher)."""
    if all(os.environ.get(name, "0") == "0" for name in ("RANK", "OMPI_COMM_WORLD_RANK", "HOROVOD_RANK")):
        print(message, file=sys.stderr)
