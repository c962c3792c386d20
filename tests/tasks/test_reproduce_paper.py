"""The README's "Reproducing the paper" commands, run as written on a miniature release in the reference
layouts (tests/released_fixture.py): official-format predictions, official metrics, the table."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.paper_table import PUBLISHED_HERO
from evaluation.tvr_metrics import evaluate, load_predictions
from tests.released_fixture import FEATURE_DIM, write_release, write_video_db

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Reproducing the paper", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```bash\n(.*?)```", section, re.S)[0]
    return [line for line in block.splitlines() if line.startswith("python ")]


def run_bash(script: str, release, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "TXT": str(release.txt),
           "VIDEO": str(release.video), "FINETUNE": str(release.finetune), "PY": sys.executable}
    return subprocess.run(["bash", "-c", 'python() { "$PY" "$@"; }\nset -e\n' + script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return write_release(tmp_path_factory.mktemp("release"))


def test_readme_commands_reproduce_the_table_end_to_end(release):
    commands = readme_commands()
    assert len(commands) == 6 and all("$TXT" in c or "paper_table" in c for c in commands)
    result = run_bash("\n".join(commands), release)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = release.finetune
    for task, ds in (("tvr", release.tv), ("how2r", release.how2)):
        out = runs / f"{task}_default" / "results_val"
        predictions = load_predictions(out / "predictions.json")  # official format, validated
        val = ds.splits["val"]
        assert predictions["video2idx"] == {v: ds.official[v] for v in val}  # vid2dur_idx.json[val] of the sub db
        truth = [json.loads(line) for line in (release.txt / f"{task}_val.db" / "query_data.jsonl").read_text()
                 .splitlines()]
        assert sorted(item["desc_id"] for item in predictions["VCMR"]) == sorted(r["desc_id"] for r in truth)
        metrics = json.loads((out / "metrics.json").read_text())
        # the written metrics are the official evaluation of the written predictions against the raw annotations
        expected = evaluate(predictions, truth, by_type=task == "tvr")
        assert {k: metrics[k] for k in ("VCMR", "SVMR", "VR")} == {k: expected[k] for k in ("VCMR", "SVMR", "VR")}
        assert ("by_type" in metrics) == (task == "tvr")
    submission = runs / "tvr_default" / "results_test_public"
    test_predictions = load_predictions(submission / "predictions.json")
    assert test_predictions["video2idx"] == {v: release.tv.official[v] for v in release.tv.splits["test_public"]}
    assert not (submission / "metrics.json").exists()
    for task in ("tvqa", "how2qa"):
        out = runs / f"{task}_default" / "results_val"
        answers = json.loads((out / "predictions.json").read_text())
        assert len(answers) == 10 and all(0 <= a < 5 for a in answers.values())
        assert 0 <= json.loads((out / "metrics.json").read_text())["accuracy"] <= 1
    table = (runs / "paper_table.md").read_text()
    tvr = json.loads((runs / "tvr_default" / "results_val" / "metrics.json").read_text())["VCMR"]
    tvqa = json.loads((runs / "tvqa_default" / "results_val" / "metrics.json").read_text())["accuracy"]
    ours = next(line for line in table.splitlines() if line.startswith("| this library |"))
    cells = [c.strip() for c in ours.strip("|").split("|")][1:]
    assert cells[:4] == [f"{tvr['0.7-r1']:.2f}", f"{tvr['0.7-r10']:.2f}", f"{tvr['0.7-r100']:.2f}", f"{100 * tvqa:.2f}"]
    assert f"{PUBLISHED_HERO['tvr_r1']:.2f}" in table and "HERO (published)" in table


def test_feature_dim_that_differs_from_the_checkpoint_is_one_line_and_writes_nothing(release, tmp_path):
    import numpy as np

    other = write_video_db(tmp_path / "video_db", "tv", {v: np.zeros((n, FEATURE_DIM - 4), np.float16)
                                                         for v, n in release.tv.videos.items()}, compressed=True)
    run = release.finetune / "tvr_default"
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    result = run_bash(f"python inf_vcmr.py --query_txt_db $TXT/tvr_val.db --split val --vfeat_db {other} "
                      f"--sub_txt_db $TXT/tv_subtitles.db --output_dir {run} --checkpoint 4800", release)
    assert result.returncode != 0
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()} == before  # nothing written
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and f"{FEATURE_DIM - 4} dims" in error[0] and f"vfeat_dim {FEATURE_DIM}" in error[0], \
        result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_missing_checkpoint_step_is_one_line(release):
    result = run_bash("python eval_videoQA.py --query_txt_db $TXT/tvqa_val.db --split val --vfeat_db $VIDEO/tv "
                      "--sub_txt_db $TXT/tv_subtitles.db --output_dir $FINETUNE/tvqa_default --checkpoint 123", release)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "model_step_123.pt not found" in result.stderr.strip().splitlines()[-1]
