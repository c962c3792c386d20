"""Tests for config/loader.py: JSON + overrides -> typed dataclass config."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from config.cli import describe_options, exit_on_config_error, parse_cli
from config.loader import (
    ConfigError,
    closest_key,
    from_dict,
    load_config,
    save_config,
    to_dict,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


# Schemas are module-level because `from __future__ import annotations` makes every
# annotation a string that get_type_hints resolves in the module namespace.
@dataclass(frozen=True)
class OptimConfig:
    learning_rate: float = field(default=3e-4, metadata={"help": "Peak learning rate."})
    betas: tuple[float, ...] = (0.9, 0.98)
    schedule: Literal["linear", "cosine"] = "linear"
    warmup_steps: int | None = None
    """Warm-up length in steps; null means no warm-up."""


@dataclass(frozen=True)
class EncoderConfig:
    hidden_size: int
    num_layers: int = 6


@dataclass(frozen=True)
class SplitConfig:
    name: str
    tasks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TargetConfig:
    name: str
    splits: list[SplitConfig] = field(default_factory=list)


@dataclass(frozen=True)
class TrainConfig:
    name: str = "run"
    output_dir: str | None = None
    fp16: bool = False
    num_train_steps: int = 100
    learning_rate: float = 1e-4
    lw_neg_ctx: float = 0.0
    lw_neg_q: float = 0.0
    hard_pool_size: list[int] = field(default_factory=lambda: [20])
    hard_neg_weights: list[float] = field(default_factory=lambda: [10.0])
    hard_negative_start_step: list[int] = field(
        default_factory=lambda: [-1],
        metadata={
            "aliases": ("hard_negtiave_start_step",),
            "help": "Step at which each hard-negative stage starts (-1: never).",
        },
    )
    optim: OptimConfig = field(default_factory=OptimConfig)
    f_config: EncoderConfig = field(default_factory=lambda: EncoderConfig(hidden_size=768))
    # Declared default differs from EncoderConfig's own num_layers default (6).
    c_config: EncoderConfig = field(
        default_factory=lambda: EncoderConfig(hidden_size=768, num_layers=3)
    )
    targets: list[TargetConfig] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    extra: Any = None

    def __post_init__(self) -> None:
        if len(self.hard_neg_weights) != len(self.hard_negative_start_step):
            raise ValueError(
                f"hard_neg_weights has {len(self.hard_neg_weights)} entries but "
                f"hard_negative_start_step has {len(self.hard_negative_start_step)}"
            )


@dataclass(frozen=True)
class NeedsEncoder:
    f_config: EncoderConfig


@dataclass(frozen=True)
class TaskMix:
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError(f"weight must be >= 0, got {self.weight}")


@dataclass(frozen=True)
class MixConfig:
    tasks: dict[str, TaskMix] = field(
        default_factory=lambda: {"mlm": TaskMix(1.0), "mfm": TaskMix(2.0)}
    )
    extra_task: TaskMix | None = None


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


# ------------------------------------------------------------------ from_dict / files


def test_round_trip_file_object_dict_file(tmp_path: Path) -> None:
    data = {
        "name": "tvr",
        "fp16": True,
        "learning_rate": 5,  # int accepted for float
        "hard_pool_size": [20, 40],
        "hard_neg_weights": [10.0, 5.0],
        "hard_negative_start_step": [100, 200],
        "optim": {"betas": [0.8, 0.9], "schedule": "cosine", "warmup_steps": 50},
        "f_config": {"hidden_size": 256},
        "targets": [{"name": "tv", "splits": [{"name": "all", "tasks": ["mlm", "vsm"]}]}],
        "paths": {"tv": "/data/tv"},
        "extra": {"anything": [1, "x"]},
    }
    cfg = load_config(TrainConfig, write_json(tmp_path / "in.json", data))

    assert cfg.learning_rate == 5.0 and isinstance(cfg.learning_rate, float)
    assert cfg.optim.betas == (0.8, 0.9)
    assert cfg.targets[0].splits[0] == SplitConfig("all", ["mlm", "vsm"])
    assert cfg.f_config == EncoderConfig(hidden_size=256, num_layers=6)

    save_config(cfg, tmp_path / "out.json")
    saved = json.loads((tmp_path / "out.json").read_text())
    assert saved == to_dict(cfg)
    assert saved["optim"]["betas"] == [0.8, 0.9]  # tuple written as a JSON list
    assert load_config(TrainConfig, tmp_path / "out.json") == cfg


def test_partial_section_keeps_the_declared_default() -> None:
    cfg = from_dict(TrainConfig, {"c_config": {"hidden_size": 128}})
    # c_config's default_factory sets num_layers=3; the class default would be 6.
    assert cfg.c_config == EncoderConfig(hidden_size=128, num_layers=3)
    assert from_dict(TrainConfig, {}) == TrainConfig()


def test_unknown_key_names_file_key_and_suggestion(tmp_path: Path) -> None:
    path = write_json(tmp_path / "cfg.json", {"lw_neg_ct": 1.0})
    with pytest.raises(ConfigError) as info:
        load_config(TrainConfig, path)
    message = str(info.value)
    assert message == f"{path}: unknown option 'lw_neg_ct' (did you mean 'lw_neg_ctx'?)"
    assert "\n" not in message


def test_unknown_key_deep_in_lists_reports_full_path() -> None:
    data = {"targets": [{"name": "a"}, {"name": "b", "splits": [{"name": "s", "taks": []}]}]}
    with pytest.raises(ConfigError, match=r"unknown option 'targets\[1\]\.splits\[0\]\.taks' "
                       r"\(did you mean 'targets\[1\]\.splits\[0\]\.tasks'\?\)"):
        from_dict(TrainConfig, data, source="x.json")


def test_unknown_key_without_close_match_lists_small_sections() -> None:
    with pytest.raises(ConfigError) as info:
        from_dict(EncoderConfig, {"hidden_size": 1, "zzz": 2})
    assert str(info.value) == (
        "<dict>: unknown option 'zzz' (valid options: hidden_size, num_layers)"
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"learning_rate": "abc"}, "option 'learning_rate' must be float, got str 'abc'"),
        ({"num_train_steps": 1.5}, "option 'num_train_steps' must be int, got float 1.5"),
        ({"fp16": 1}, "option 'fp16' must be bool (true/false), got int 1"),
        ({"learning_rate": True}, "option 'learning_rate' must be float, got bool True"),
        ({"optim": {"betas": [0.9, "x"]}}, "option 'optim.betas[1]' must be float, got str 'x'"),
        ({"optim": {"schedule": "cos"}}, "option 'optim.schedule' must be one of 'linear', "
                                         "'cosine', got str 'cos'"),
        ({"optim": {"warmup_steps": "10"}}, "option 'optim.warmup_steps' must be int | None, "
                                            "got str '10'"),
        ({"paths": {"tv": 3}}, "option 'paths.tv' must be str, got int 3"),
        ({"optim": [1]}, "option 'optim' must be a JSON object (OptimConfig), got list [1]"),
        ({"hard_pool_size": 20}, "option 'hard_pool_size' must be a list (list[int]), got int 20"),
        ({"targets": [{"name": "t", "splits": [{"name": 1}]}]},
         "option 'targets[0].splits[0].name' must be str, got int 1"),
    ],
)
def test_wrong_type_messages(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_dict(TrainConfig, data, source="cfg.json")
    assert str(info.value) == f"cfg.json: {expected}"


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigError) as info:
        load_config(TrainConfig, missing)
    assert str(info.value) == f"config file not found: {missing}"


def test_invalid_json_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "fp16": true,\n  "name": oops\n}\n')
    with pytest.raises(ConfigError) as info:
        load_config(TrainConfig, path)
    assert str(info.value).startswith(f"{path}: invalid JSON at line 3 column 11: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1, 2]", "top level must be a JSON object, got list"),
        ('{"fp16": true, "fp16": false}', "duplicate key 'fp16' in a JSON object"),
    ],
)
def test_bad_file_structure(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "cfg.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(TrainConfig, path)
    assert str(info.value) == f"{path}: {expected}"


def test_missing_required_option() -> None:
    with pytest.raises(ConfigError) as info:
        from_dict(NeedsEncoder, {"f_config": {"num_layers": 2}}, source="m.json")
    assert str(info.value) == "m.json: missing required option 'f_config.hidden_size'"
    with pytest.raises(ConfigError, match="missing required option 'f_config'$"):
        load_config(NeedsEncoder, None)


def test_alias_is_accepted_and_saved_under_real_name(tmp_path: Path) -> None:
    cfg = from_dict(TrainConfig, {"hard_negtiave_start_step": [7]})
    assert cfg.hard_negative_start_step == [7]
    assert "hard_negtiave_start_step" not in to_dict(cfg)
    assert to_dict(cfg)["hard_negative_start_step"] == [7]


def test_alias_and_real_name_together_are_rejected() -> None:
    data = {"hard_negative_start_step": [1], "hard_negtiave_start_step": [2]}
    with pytest.raises(ConfigError) as info:
        from_dict(TrainConfig, data, source="c.json")
    assert str(info.value) == (
        "c.json: option 'hard_negative_start_step' is given twice, as "
        "'hard_negative_start_step' and as 'hard_negtiave_start_step' (an alias); keep one"
    )


def test_post_init_value_error_becomes_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        from_dict(TrainConfig, {"hard_neg_weights": [1.0, 2.0]}, source="c.json")
    assert str(info.value) == (
        "c.json: hard_neg_weights has 2 entries but hard_negative_start_step has 1"
    )


def test_config_error_is_always_one_line() -> None:
    assert str(ConfigError("a\n  b\r\nc")) == "a b c"
    assert isinstance(ConfigError("x"), ValueError)


# ------------------------------------------------------------------ overrides


@pytest.mark.parametrize(
    ("overrides", "attribute", "expected"),
    [
        (["--name=foo"], "name", "foo"),
        (["--name", "123"], "name", "123"),  # str is taken literally, not as a number
        (["--name", "null"], "name", "null"),  # only Optional fields read null as None
        (["--num_train_steps", "5000"], "num_train_steps", 5000),
        (["--learning_rate", "1e-4"], "learning_rate", 1e-4),
        (["--learning_rate=-2"], "learning_rate", -2.0),
        (["--learning_rate", "-2.5"], "learning_rate", -2.5),
        (["--num-train-steps", "7"], "num_train_steps", 7),
        (["--output_dir", "none"], "output_dir", None),
        (["--output_dir", "/tmp/out"], "output_dir", "/tmp/out"),
        (["--hard_pool_size", "20,40"], "hard_pool_size", [20, 40]),
        (["--hard_pool_size", "[20, 40]"], "hard_pool_size", [20, 40]),
        (["--hard_pool_size", "30"], "hard_pool_size", [30]),
        (["--hard_pool_size", ""], "hard_pool_size", []),
        (["--paths", '{"tv": "/d/tv"}'], "paths", {"tv": "/d/tv"}),
        (["--paths.tv", "/d/tv"], "paths", {"tv": "/d/tv"}),
        (["--extra", "[1, 2]"], "extra", [1, 2]),
        (["--extra", "plain text"], "extra", "plain text"),
        (["--targets", '[{"name": "tv"}]'], "targets", [TargetConfig("tv")]),
    ],
)
def test_override_conversions(overrides: list[str], attribute: str, expected: Any) -> None:
    cfg = load_config(TrainConfig, None, overrides)
    value = getattr(cfg, attribute)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("True", True), ("1", True), ("YES", True),
     ("false", False), ("FALSE", False), ("0", False), ("no", False)],
)
def test_bool_override_spellings(text: str, expected: bool) -> None:
    start = not expected
    cfg = load_config(TrainConfig, None, ["--fp16", str(start).lower(), "--fp16", text])
    assert cfg.fp16 is expected


def test_nested_dotted_overrides() -> None:
    cfg = load_config(
        TrainConfig,
        None,
        [
            "--optim.betas", "[0.9, 0.98]",
            "--optim.learning_rate", "2e-5",
            "--optim.schedule=cosine",
            "--optim.warmup_steps", "500",
            "--c_config.hidden_size", "256",
        ],
    )
    assert cfg.optim == OptimConfig(2e-5, (0.9, 0.98), "cosine", 500)
    assert cfg.c_config == EncoderConfig(256, 3)  # other keys keep the declared default
    cfg = load_config(TrainConfig, None, ["--optim.warmup_steps", "null"])
    assert cfg.optim.warmup_steps is None
    assert load_config(TrainConfig, None, ["--optim.betas", "0.5,0.6"]).optim.betas == (0.5, 0.6)


def test_whole_section_override_as_json() -> None:
    cfg = load_config(TrainConfig, None, ["--f_config", '{"hidden_size": 64, "num_layers": 1}'])
    assert cfg.f_config == EncoderConfig(64, 1)


def test_overrides_win_over_file_and_replace_alias_keys(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "cfg.json",
        {"learning_rate": 0.1, "hard_negtiave_start_step": [5], "optim": {"schedule": "cosine"}},
    )
    cfg = load_config(
        TrainConfig,
        path,
        ["--learning_rate", "0.2", "--hard_negative_start_step", "9", "--optim.warmup_steps=3"],
    )
    assert cfg.learning_rate == 0.2
    assert cfg.hard_negative_start_step == [9]
    assert cfg.optim.schedule == "cosine" and cfg.optim.warmup_steps == 3  # merged, not replaced


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["--learning_rate", "abc"], "--learning_rate: must be float, got 'abc'"),
        (["--num_train_steps", "1.5"], "--num_train_steps: must be int, got '1.5'"),
        (["--fp16", "maybe"], "--fp16: must be bool, got 'maybe'"),
        (["--optim.warmup_steps", "x"], "--optim.warmup_steps: must be int | None, got 'x'"),
        (["--optim.schedule", "cos"], "--optim.schedule: must be one of 'linear', 'cosine', "
                                      "got 'cos'"),
        (["--hard_pool_size", "20,x"], "--hard_pool_size: item 1: must be int, got 'x'"),
        (["--optim.betas", "[0.9, \"x\"]"], "--optim.betas: option 'optim.betas[1]' must be "
                                            "float, got str 'x'"),
        (["--hard_pool_size", "[1,"], "--hard_pool_size: must be a JSON list, got '[1,' "
                                      "(invalid JSON: Expecting value)"),
        (["--f_config", '{"hidden_sise": 3}'], "--f_config: unknown option "
                                               "'f_config.hidden_sise' (did you mean "
                                               "'f_config.hidden_size'?)"),
        (["--learnin_rate", "1"], "--learnin_rate: unknown config option "
                                  "(did you mean --learning_rate?)"),
        (["--optim.learnng_rate", "1"], "--optim.learnng_rate: unknown config option "
                                        "(did you mean --optim.learning_rate?)"),
        (["--hard_negtive_start_step", "1"], "--hard_negtive_start_step: unknown config "
                                             "option (did you mean --hard_negative_start_step?)"),
        (["--qqq", "1"], "--qqq: unknown config option"),
        (["--fp16.x", "1"], "--fp16.x: option 'fp16' is bool and has no sub-option 'x'"),
        (["--fp16"], "--fp16: missing value (use --fp16 VALUE or --fp16=VALUE)"),
        (["--fp16", "--name", "x"], "--fp16: missing value (use --fp16 VALUE or --fp16=VALUE)"),
        (["fp16", "true"], "unexpected argument 'fp16': config overrides look like "
                           "--name VALUE or --name=VALUE"),
        (["--optim..schedule", "x"], "--optim..schedule: malformed option name"),
    ],
)
def test_override_errors(overrides: list[str], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(TrainConfig, None, overrides)
    assert str(info.value) == expected


def test_override_into_dict_entry_keeps_other_default_entries() -> None:
    cfg = load_config(MixConfig, None, ["--tasks.mlm.weight", "3"])
    assert cfg.tasks == {"mlm": TaskMix(3.0), "mfm": TaskMix(2.0)}
    # Giving the whole dict replaces it.
    cfg = load_config(MixConfig, None, ["--tasks", '{"vsm": {}}'])
    assert cfg.tasks == {"vsm": TaskMix(1.0)}


def test_optional_section_override_and_its_post_init_rule() -> None:
    assert load_config(MixConfig, None, ["--extra_task.weight", "4"]).extra_task == TaskMix(4.0)
    assert load_config(MixConfig, None, ["--extra_task", "null"]).extra_task is None
    with pytest.raises(ConfigError) as info:
        load_config(MixConfig, None, ["--extra_task.weight", "-1"])
    # The section's own rule is reported, not a generic "must be TaskMix | None".
    assert str(info.value) == (
        "command-line overrides: invalid section 'extra_task': weight must be >= 0, got -1.0"
    )


def test_override_cannot_break_cross_field_rule_silently(tmp_path: Path) -> None:
    path = write_json(tmp_path / "cfg.json", {})
    with pytest.raises(ConfigError, match=r"with command-line overrides: hard_neg_weights has 2"):
        load_config(TrainConfig, path, ["--hard_neg_weights", "1,2"])


# ------------------------------------------------------------------ saving


def test_save_config_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "out" / "config.json"
    save_config(TrainConfig(name="first"), target)
    save_config(TrainConfig(name="second"), target)  # overwrite in place
    assert os.listdir(target.parent) == ["config.json"]
    assert json.loads(target.read_text())["name"] == "second"

    # A value that cannot be serialised must leave the previous file untouched.
    with pytest.raises(TypeError, match="option 'extra'"):
        save_config(TrainConfig(extra=object()), target)
    assert os.listdir(target.parent) == ["config.json"]
    assert json.loads(target.read_text())["name"] == "second"


def test_save_config_failure_during_write_removes_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "config.json"
    target.write_text("old")

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        save_config(TrainConfig(), target)
    assert os.listdir(tmp_path) == ["config.json"]
    assert target.read_text() == "old"


# ------------------------------------------------------------------ command line


def add_script_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--eval-only", action="store_true", help="Only run evaluation.")
    parser.add_argument("--checkpoint", metavar="PATH", help="Checkpoint to load.")


def test_parse_cli_with_script_flags_and_overrides(tmp_path: Path) -> None:
    path = write_json(tmp_path / "cfg.json", {"name": "from-file", "num_train_steps": 3})
    argv = [
        "--config", str(path),
        "--eval-only",
        "--learning_rate", "-1e-4",
        "--checkpoint", "ckpt.pt",
        "--optim.betas=[0.5, 0.5]",
        "--name", "cli",
    ]
    cfg, args = parse_cli(TrainConfig, argv, add_arguments=add_script_flags)
    assert args.eval_only is True and args.checkpoint == "ckpt.pt" and args.config == str(path)
    assert args.config_overrides == [
        "--learning_rate", "-1e-4", "--optim.betas=[0.5, 0.5]", "--name", "cli"
    ]
    assert cfg.name == "cli" and cfg.num_train_steps == 3 and cfg.learning_rate == -1e-4
    assert cfg.optim.betas == (0.5, 0.5)


def test_parse_cli_errors_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="argument --checkpoint: expected one argument"):
        parse_cli(TrainConfig, ["--checkpoint"], add_arguments=add_script_flags)
    # A mistyped script flag is suggested too.
    with pytest.raises(ConfigError, match=r"--eval_only: .*did you mean --eval-only\?"):
        parse_cli(TrainConfig, ["--eval_only", "1"], add_arguments=add_script_flags)


def test_help_lists_script_flags_and_every_config_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        parse_cli(TrainConfig, ["--help"], description="Train VCMR.",
                  add_arguments=add_script_flags)
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "Train VCMR." in out
    assert "--eval-only" in out and "Only run evaluation." in out
    assert "--config FILE.json" in out
    assert "--optim.learning_rate  float = 0.0003" in out
    assert "Peak learning rate." in out
    assert "--optim.warmup_steps  int | None = null" in out
    assert "Warm-up length in steps; null means no warm-up." in out  # attribute docstring
    assert "--c_config.num_layers  int = 3" in out  # the declared section default
    assert "targets[i].splits[i].tasks  list[str] = []" in out
    assert "also accepted as: hard_negtiave_start_step" in out


def test_describe_options_marks_required() -> None:
    text = describe_options(NeedsEncoder)
    assert "--f_config.hidden_size  int (required)" in text
    assert "--f_config.num_layers  int = 6" in text


def test_exit_on_config_error_exits_with_one_line() -> None:
    with pytest.raises(SystemExit) as info:
        with exit_on_config_error():
            raise ConfigError("bad thing")
    assert info.value.code == "error: bad thing"
    with pytest.raises(KeyError):  # other errors are bugs and keep their traceback
        with exit_on_config_error():
            raise KeyError("x")


def test_entry_script_prints_exactly_one_error_line(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(
        """
        from dataclasses import dataclass
        from config.cli import exit_on_config_error, parse_cli

        @dataclass
        class Cfg:
            lw_neg_ctx: float = 0.0

        with exit_on_config_error():
            cfg, args = parse_cli(Cfg)
        print("should not get here")
        """
    ))
    config = write_json(tmp_path / "cfg.json", {"lw_neg_ct": 1.0})
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, str(script), "--config", str(config)],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [
        f"error: {config}: unknown option 'lw_neg_ct' (did you mean 'lw_neg_ctx'?)"
    ]


def test_closest_key() -> None:
    assert closest_key("lw_neg_ct", ["lw_neg_ctx", "lw_neg_q"]) == "lw_neg_ctx"
    assert closest_key("FP16", ["fp16", "name"]) == "fp16"
    assert closest_key("zzz", ["fp16", "name"]) is None
