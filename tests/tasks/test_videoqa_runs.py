"""train_videoQA.py as a user runs it (real processes, demo corpus, tiny model): fine-tuning from a
backbone-only checkpoint, validation + best checkpoint, --eval-only on a labelled and an unlabelled
split, and one-line errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.loader import from_dict
from data.dbs.query_db import build_query_db
from model.config import HeroModelConfig
from model.video_qa import HeroForVideoQA
from pretrained.checkpoint_file import model_config_dict, save_weights
from tests.data.data_helpers import write_jsonl
from tests.helpers_runs import ROOT, TINY_MODEL, read_losses, run_script


def tiny_qa_config(tmp: Path, demo: Path, **overrides) -> Path:
    """The TVQA demo config on ``demo`` with the tiny model; returns its path."""
    base = json.loads((ROOT / "config/train-tvqa-demo.json").read_text())
    model = tmp / "tiny_model.json"
    model.write_text(json.dumps(TINY_MODEL))
    base.update(model_config=str(model), checkpoint=None, demo_corpus=str(demo),
                sub_txt_db=str(demo / "txt_db/tv_subtitles.db"), vfeat_db=str(demo / "video_db/tv"),
                train_query_txt_db=str(demo / "txt_db/tvqa_train.db"),
                val_query_txt_db=str(demo / "txt_db/tvqa_val.db"), output_dir=str(tmp / "run"),
                num_train_steps=2, valid_steps=2, save_steps=2, log_steps=1, warmup_steps=1,
                train_batch_size=2, val_batch_size=32, n_workers=0)
    base.update(overrides)
    path = tmp / "qa.json"
    path.write_text(json.dumps(base))
    return path


def backbone_checkpoint(tmp: Path) -> Path:
    """A tiny project checkpoint without QA heads, standing in for pre-trained weights."""
    config = from_dict(HeroModelConfig, TINY_MODEL)
    state = {k: v for k, v in HeroForVideoQA(config).state_dict().items() if not k.startswith("qa_head.")}
    path = tmp / "backbone.pt"
    save_weights(path, state, model_config_dict(config))
    return path


@pytest.fixture(scope="module")
def trained(demo_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("videoqa")
    config = tiny_qa_config(tmp, demo_dir, checkpoint=str(backbone_checkpoint(tmp)))
    result = run_script(["train_videoQA.py", "--config", str(config)])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return tmp, config, result.stdout


def test_training_logs_losses_validates_and_keeps_best(trained):
    tmp, _, stdout = trained
    assert "new heads: qa_head" in stdout
    rows = read_losses(tmp / "run")
    assert [r["step"] for r in rows] == [1, 2]
    assert all(r["task"] == "tvqa" for r in rows)
    assert {"loss", "qa_loss", "temporal_loss"} <= set(rows[0])
    assert (tmp / "run/ckpt/model_best.pt").is_file() and (tmp / "run/ckpt/model_step_2.pt").is_file()
    best = json.loads((tmp / "run/log/best.json").read_text())
    assert best["metric"] == "tvqa/acc" and 0 <= best["value"] <= 1


def test_eval_only_writes_predictions_spans_and_metrics(trained, demo_dir):
    tmp, config, _ = trained
    result = run_script(["train_videoQA.py", "--config", str(config), "--eval-only",
                         "--checkpoint", str(tmp / "run/ckpt/model_best.pt"), "--split", "val"])
    assert result.returncode == 0, result.stderr[-2000:]
    out = tmp / "run/results_val"
    predictions = json.loads((out / "predictions.json").read_text())
    spans = json.loads((out / "predictions_spans.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    qids = json.loads((demo_dir / "txt_db/tvqa_val.db/id2len.json").read_text())
    assert set(predictions) == set(qids) == set(spans)  # leaderboard format {qid: answer_idx}
    assert all(isinstance(v, int) and 0 <= v < 5 for v in predictions.values())
    assert all(len(s) == 2 and 0 <= s[0] < s[1] for s in spans.values())
    records = [json.loads(line) for line in
               (demo_dir / "txt_db/tvqa_val.db/query_data.jsonl").read_text().splitlines() if line]
    expected = sum(predictions[str(r["qid"])] == r["answer_idx"] for r in records) / len(records)
    assert metrics["accuracy"] == pytest.approx(expected) and metrics["count"] == len(records)
    assert set(metrics) >= {"by_type", "by_show", "temporal"}
    assert f"accuracy {100 * expected:.2f} %" in result.stdout


@pytest.mark.multiprocess
def test_two_process_eval_equals_one_process(trained):
    tmp, config, _ = trained
    checkpoint = str(tmp / "run/ckpt/model_best.pt")
    outputs = {}
    for name, launcher in (("single", []),
                           ("torchrun", ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"])):
        result = run_script([*launcher, "train_videoQA.py", "--config", str(config), "--eval-only", "--split", "val",
                             "--checkpoint", checkpoint, "--output_dir", str(tmp / name)])
        assert result.returncode == 0, result.stderr[-2000:]
        outputs[name] = {f: (tmp / name / "results_val" / f).read_text()
                         for f in ("predictions.json", "predictions_spans.json", "metrics.json")}
    assert outputs["torchrun"] == outputs["single"]  # byte-identical files: ranks split and merge exactly


def test_eval_only_on_an_unlabelled_test_split(trained, demo_dir):
    tmp, config, _ = trained
    rows = [json.loads(line) for line in (demo_dir / "annotations/tvqa_val.jsonl").read_text().splitlines()[:7]]
    for row in rows:
        row.pop("answer_idx")
    build_query_db(write_jsonl(tmp / "test.jsonl", rows), "tvqa", tmp / "test.db")
    result = run_script(["train_videoQA.py", "--config", str(config), "--eval-only", "--split", "test",
                         "--checkpoint", str(tmp / "run/ckpt/model_step_2.pt"),
                         "--test_query_txt_db", str(tmp / "test.db")])
    assert result.returncode == 0, result.stderr[-2000:]
    out = tmp / "run/results_test"
    assert set(json.loads((out / "predictions.json").read_text())) == {str(r["qid"]) for r in rows}
    assert not (out / "metrics.json").exists()


@pytest.mark.parametrize("extra, message", [
    (["--eval-only", "--checkpoint", "BACKBONE"], "needs a fine-tuned"),  # heads missing: refuse, don't guess
    (["--val_query_txt_db", "/nowhere/val.db"], "val_query_txt_db: db not found"),
    (["--eval-only", "--split", "test"], "test_query_txt_db is not set"),
])
def test_one_line_errors(trained, extra, message):
    tmp, config, _ = trained
    extra = [str(tmp / "backbone.pt") if x == "BACKBONE" else x for x in extra]
    result = run_script(["train_videoQA.py", "--config", str(config), "--output_dir", str(tmp / "err"), *extra])
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr[-1500:]
