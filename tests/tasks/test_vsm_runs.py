"""train_vsm.py as a user runs it (real processes, demo corpus, tiny model): VSM adaptation with
held-out subtitle retrieval, --eval-only, and one-line errors."""
import json

import pytest

from config.loader import load_config
from config.schema import VsmConfig
from data.dbs.corpus import VideoCorpus
from data.loading.subtitle_queries import DESC_ID_STRIDE, select_heldout_subtitles
from evaluation.tvr_metrics import load_predictions
from tests.helpers_runs import ROOT, TINY_MODEL, read_losses, run_script

RATIO, SEED = 0.2, 3
METRIC_KEYS = {f"{iou}-r{k}" for iou in (0.5, 0.7) for k in (1, 5, 10, 100)}


def tiny_vsm_config(tmp, demo, **overrides):
    model = tmp / "tiny_model.json"
    model.write_text(json.dumps(TINY_MODEL))
    base = json.loads((ROOT / "config/train-vsm-demo.json").read_text())
    base.update(model_config=str(model), checkpoint=None, demo_corpus=str(demo),
                sub_txt_db=str(demo / "txt_db/tv_subtitles.db"), vfeat_db=str(demo / "video_db/tv"),
                output_dir=str(tmp / "run"), heldout_subtitle_ratio=RATIO, heldout_seed=SEED,
                num_train_steps=2, valid_steps=2, save_steps=2, log_steps=1, warmup_steps=1, n_workers=0,
                train_batch_size=4, query_per_video=2, vcmr_eval_video_batch_size=100,
                vcmr_eval_q_batch_size=128, hard_negtiave_start_step=[2], hard_pool_size=[2])
    base.update(overrides)
    path = tmp / "vsm.json"
    path.write_text(json.dumps(base))
    return path


@pytest.fixture(scope="module")
def heldout(demo_dir):
    corpus = VideoCorpus(demo_dir / "txt_db/tv_subtitles.db", demo_dir / "video_db/tv")
    return corpus, select_heldout_subtitles(corpus, RATIO, SEED)


@pytest.fixture(scope="module")
def trained(demo_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vsm")
    config = tiny_vsm_config(tmp, demo_dir)
    result = run_script(["train_vsm.py", "--config", str(config)])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return tmp, config


def check_predictions(path, corpus, heldout):
    """Official format, one item per held-out subtitle in each list, desc_id = video index·stride + sub."""
    preds = load_predictions(path)
    names = sorted(corpus.ids())
    assert preds["video2idx"] == {v: i for i, v in enumerate(names)}
    expected = sorted(names.index(v) * DESC_ID_STRIDE + i for v, subs in heldout.items() for i in subs)
    for task in ("VCMR", "SVMR", "VR"):
        assert sorted(item["desc_id"] for item in preds[task]) == expected, task
        assert all(0 < len(item["predictions"]) <= 100 for item in preds[task]), task
    for item in preds["SVMR"][:20]:  # SVMR predicts on the subtitle's own video only
        assert {row[0] for row in item["predictions"]} == {item["desc_id"] // DESC_ID_STRIDE}
    return preds


def test_training_validates_on_heldout_subtitles(trained, heldout):
    tmp, _ = trained
    run = tmp / "run"
    assert [row["step"] for row in read_losses(run)] == [1, 2]
    assert (run / "ckpt" / "model_best.pt").is_file()
    best = json.loads((run / "log" / "best.json").read_text())
    assert "vsm/VCMR_0.7-rsum" in json.dumps(best)
    check_predictions(run / "results" / "val_results_2.json", *heldout)


def test_eval_only_writes_predictions_and_metrics(trained, heldout):
    tmp, config = trained
    result = run_script(["train_vsm.py", "--config", str(config), "--eval-only", "--checkpoint",
                         str(tmp / "run/ckpt/model_best.pt"), "--output_dir", str(tmp / "eval")])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = tmp / "eval/results_val"
    preds = check_predictions(out / "predictions.json", *heldout)
    # the best model is the step-2 model: evaluating it again gives the validation's predictions
    assert preds == json.loads((tmp / "run/results/val_results_2.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["VCMR"]) == set(metrics["SVMR"]) == METRIC_KEYS
    assert set(metrics["VR"]) == {f"r{k}" for k in (1, 5, 10, 100)}
    assert metrics["num_queries"] == sum(map(len, heldout[1].values()))
    assert not list((tmp / "eval").glob("ckpt"))  # no training happened


def test_free_text_search_with_the_vsm_model(trained):
    """Your own videos, last step: search the adapted corpus by free text with the VSM-fine-tuned checkpoint."""
    tmp, config = trained
    result = run_script(["train_vsm.py", "--config", str(config), "--checkpoint", str(tmp / "run/ckpt/model_best.pt"),
                         "--output_dir", str(tmp / "search"), "--query", "a man opens the door", "--top-k", "3"])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (found,) = [json.loads(line) for line in (tmp / "search/results_search/moments.jsonl").read_text().splitlines()]
    assert found["query"] == "a man opens the door" and [m["rank"] for m in found["moments"]] == [1, 2, 3]
    assert (tmp / "search/corpus_embeddings.pt").is_file()
    assert not list((tmp / "search").glob("ckpt"))  # searching trains nothing


@pytest.mark.multiprocess
def test_two_process_training_with_dropped_span_loss(tmp_path, demo_dir):
    """DDP: a step whose span loss is dropped (drop_svmr_prob) leaves the span head without gradients."""
    config = tiny_vsm_config(tmp_path, demo_dir, valid_steps=100, drop_svmr_prob=0.8)  # seed 77: drops step 1
    result = run_script(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "train_vsm.py",
                         "--config", str(config)])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    losses = read_losses(tmp_path / "run")
    assert [row["step"] for row in losses] == [1, 2]
    assert losses[0]["span"] == 0.0 and losses[1]["span"] > 0  # both kinds of step were run


def test_bad_config_key_is_one_line(tmp_path, demo_dir):
    config = tiny_vsm_config(tmp_path, demo_dir, heldout_ratio=0.1)
    result = run_script(["train_vsm.py", "--config", str(config)])
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert "heldout_ratio" in lines[0] and "heldout_subtitle_ratio" in lines[0]


def test_bad_inputs_are_one_line(tmp_path, demo_dir):
    config = tiny_vsm_config(tmp_path, demo_dir)
    cases = [(["--sub_txt_db", str(tmp_path / "missing.db")], "sub_txt_db"),
             (["--heldout_subtitle_ratio", "1.5"], "heldout_subtitle_ratio"),
             (["--heldout_subtitle_ratio", "0", "--eval-only"], "nothing to evaluate"),
             (["--lw_neg_ctx", "0", "--lw_neg_q", "0", "--train_span_start_step", "-1"], "no VSM loss")]
    for args, expected in cases:
        result = run_script(["train_vsm.py", "--config", str(config), *args])
        lines = result.stderr.strip().splitlines()
        assert result.returncode != 0 and len(lines) == 1 and expected in lines[0], (args, result.stderr)


@pytest.mark.parametrize("name", ["train-vsm-demo.json", "train-vsm-tv.json"])
def test_shipped_configs_load(name):
    cfg = load_config(VsmConfig, ROOT / "config" / name)
    assert 0 < cfg.heldout_subtitle_ratio < 1 and cfg.lw_neg_ctx > 0 and cfg.full_eval_tasks == ["VCMR", "SVMR", "VR"]
