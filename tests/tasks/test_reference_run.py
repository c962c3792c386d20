"""The reference evaluation command line translated into this library's options (tasks/reference_run.py)."""
import json

import pytest

from config.cli import parse_cli
from config.loader import ConfigError
from config.schema import VcmrConfig
from tasks.reference_run import is_reference_command_line, reference_command_line
from tasks.vcmr import SPLIT_OPTIONS


def make_run(tmp_path, **hps):
    run = tmp_path / "tvr_default"
    (run / "ckpt").mkdir(parents=True)
    (run / "log").mkdir()
    (run / "ckpt" / "model_step_4800.pt").write_bytes(b"")
    (run / "log" / "model_config.json").write_text("{}")
    base = {"task": "tvr", "q2c_alpha": 15.0, "max_clip_len": 50, "vcmr_eval_batch_size": 7,
            "vcmr_eval_q_batch_size": 80, "hard_negtiave_start_step": [2000], "fp16": False, "n_gpu": 8,
            "checkpoint": "/pretrain/hero.pt", "sub_txt_db": "/txt/tv_subtitles.db", "rank": 0}
    (run / "log" / "hps.json").write_text(json.dumps({**base, **hps}))
    return run


def translate(argv):
    return reference_command_line(argv, VcmrConfig, SPLIT_OPTIONS, "vcmr_eval_q_batch_size")


def test_options_come_from_hps_and_the_command_line(tmp_path):
    run = make_run(tmp_path)
    argv = ["--query_txt_db", "Q", "--split", "test_public", "--vfeat_db", "V", "--output_dir", str(run),
            "--checkpoint", "4800", "--fp16", "--distributed_eval", "false"]
    assert is_reference_command_line(argv)
    cfg, args = parse_cli(VcmrConfig, translate(argv), add_arguments=lambda p: p.add_argument("--split"))
    assert args.split == "test_public" and cfg.test_query_txt_db == "Q" and cfg.vfeat_db == "V"
    assert cfg.sub_txt_db == "/txt/tv_subtitles.db"  # not on the command line: the run's
    assert cfg.checkpoint == str(run / "ckpt" / "model_step_4800.pt")
    assert cfg.model_config == str(run / "log" / "model_config.json")
    assert cfg.q2c_alpha == 15.0 and cfg.max_clip_len == 50 and cfg.hard_negative_start_step == [2000]
    assert cfg.vcmr_eval_q_batch_size == 80  # the option, not its alias beside it (the reference read the option)
    assert cfg.precision == "fp16" and cfg.distributed_eval is False  # --fp16; a pass-through override


def test_without_fp16_the_run_precision_is_not_taken(tmp_path):
    run = make_run(tmp_path, fp16=True)
    cfg, _ = parse_cli(VcmrConfig, translate(["--output_dir", str(run), "--checkpoint", "4800"]),
                       add_arguments=lambda p: p.add_argument("--split"))
    assert cfg.precision == "fp32"


def test_project_command_lines_are_left_alone():
    argv = ["--config", "c.json", "--checkpoint", "4800"]
    assert translate(argv) == argv and not is_reference_command_line(["--checkpoint", "x.pt"])


@pytest.mark.parametrize("argv, message", [
    (["--checkpoint", "4800"], "need --output_dir"),
    (["--checkpoint", "12", "--output_dir", "RUN"], "model_step_12.pt not found"),
    (["--checkpoint", "4800", "--output_dir", "RUN", "--split", "train"], "--split 'train'"),
    (["--checkpoint", "4800", "--output_dir", "NOWHERE"], "hps.json not found"),
])
def test_bad_reference_command_lines(tmp_path, argv, message):
    run = make_run(tmp_path)
    argv = [str(run) if a == "RUN" else str(tmp_path / "x") if a == "NOWHERE" else a for a in argv]
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        translate(argv)
