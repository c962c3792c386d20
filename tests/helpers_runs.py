"""Helpers for tests that launch real training runs on the demo corpus."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TINY_MODEL = json.loads((ROOT / "config/hero_tiny_model.json").read_text())  # hidden 32, 2+1 layers


def tiny_pretrain_config(tmp: Path, demo: Path, **overrides) -> Path:
    """A pre-training config on the demo corpus with a tiny model; returns its path."""
    model = tmp / "tiny_model.json"
    model.write_text(json.dumps(TINY_MODEL))
    base = json.loads((ROOT / "config/pretrain-demo.json").read_text())
    base.update(model_config=str(model), text_init=None, demo_corpus=str(demo), txt_db=str(demo),
                img_db=str(demo), output_dir=str(tmp / "run"), num_train_steps=12, valid_steps=100,
                save_steps=4, log_steps=1, warmup_steps=2, n_workers=0, train_batch_size=4,
                val_batch_size=8, query_per_video=2, hard_negtiave_start_step=[6])
    base.update(overrides)
    path = tmp / "pretrain.json"
    path.write_text(json.dumps(base))
    return path


def tiny_vcmr_config(tmp: Path, demo: Path, **overrides) -> Path:
    """A TVR fine-tuning config on the demo corpus with a tiny model; returns its path."""
    model = tmp / "tiny_model.json"
    model.write_text(json.dumps(TINY_MODEL))
    base = json.loads((ROOT / "config/train-tvr-demo.json").read_text())
    base.update(model_config=str(model), checkpoint=None, demo_corpus=str(demo),
                sub_txt_db=str(demo / "txt_db/tv_subtitles.db"), vfeat_db=str(demo / "video_db/tv"),
                train_query_txt_db=str(demo / "txt_db/tvr_train.db"),
                val_query_txt_db=str(demo / "txt_db/tvr_val.db"), output_dir=str(tmp / "run"),
                num_train_steps=2, valid_steps=2, save_steps=2, log_steps=1, warmup_steps=1, n_workers=0,
                train_batch_size=4, vcmr_eval_video_batch_size=64, vcmr_eval_batch_size=32,
                hard_negtiave_start_step=[2], hard_pool_size=[2])
    base.update(overrides)
    path = tmp / "vcmr.json"
    path.write_text(json.dumps(base))
    return path


def run_script(args: list[str], timeout: int = 600, **popen) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, **popen)


def read_losses(run_dir: Path) -> list[dict]:
    path = run_dir / "log" / "train_losses.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def find_horovodrun() -> str | None:
    """horovodrun of this interpreter (pip puts it beside python), else the one on PATH."""
    import shutil
    beside = Path(sys.executable).parent / "horovodrun"
    return str(beside) if beside.is_file() else shutil.which("horovodrun")
