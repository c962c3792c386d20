"""Numerical parity with the reference implementation (shared fixture) and the parity CLI."""
import copy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from devtools.parity import TOLERANCE, compare, project_outputs
from model.pretrain import HeroForPretraining
from model.video_qa import HeroForVideoQA
from pretrained.reference_keys import project_to_reference
from tests.helpers import FIXTURE, tiny_config

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = {"repr", "mlm_scores", "mlm_loss", "mfm_nce_pred", "mfm_nce_neg", "mfm_nce_loss", "mffr_pred",
            "mffr_loss", "fom_scores", "fom_loss", "vsm_q2video_scores", "vsm_st_logits", "vsm_ed_logits",
            "vsm_loss_st_ed", "vsm_loss_neg_ctx", "vsm_loss_neg_q", "qa_logits", "qa_loss", "qa_temporal_loss"}


@pytest.fixture(scope="module")
def fixture():
    if not FIXTURE.is_file():
        pytest.fail(f"parity fixture missing: {FIXTURE}")
    return torch.load(FIXTURE, weights_only=True)


def test_every_reference_output_matches(fixture):
    results = {r.name: r for r in compare(fixture)}
    assert REQUIRED <= set(results)
    failing = {name: r.max_abs_diff for name, r in results.items() if r.max_abs_diff > TOLERANCE}
    assert failing == {}


def test_parity_detects_a_wrong_model(fixture):
    broken = copy.deepcopy(fixture)
    key = "v_encoder.c_encoder.encoder.layer.0.output.LayerNorm.bias"
    broken["pretrain_state"][key] = broken["pretrain_state"][key] + 1e-3
    bad = {r.name for r in compare(broken) if not r.ok}
    assert "repr" in bad and "fom_scores" in bad and "mlm_scores" not in bad  # MLM skips the temporal part


def run_cli(path):
    return subprocess.run([sys.executable, "scripts/check_parity.py", "--fixture", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_cli_on_shared_fixture():
    result = run_cli(FIXTURE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "19/19 outputs within 1e-05" in result.stdout
    assert all(name in result.stdout for name in REQUIRED)


def variant_fixture(fixture, hidden=48, heads=3, f_layers=3, c_layers=1, vfeat=20, vocab=64):
    """The shared fixture's inputs at other sizes, with fresh weights and outputs recomputed."""
    variant = copy.deepcopy(fixture)
    torch.manual_seed(7)
    config = tiny_config(hidden=hidden, heads=heads, f_layers=f_layers, c_layers=c_layers,
                         vfeat_dim=vfeat, vocab=vocab, max_clip_len=100)
    for model, key in ((HeroForPretraining(config), "pretrain_state"), (HeroForVideoQA(config), "videoqa_state")):
        state = project_to_reference(model.state_dict())
        state["v_encoder.f_encoder.pooler.dense.weight"] = torch.zeros(hidden, hidden)
        state["v_encoder.pad"] = torch.zeros(8, hidden)
        variant[key] = state
    variant["model_config"] = {name: {k: v for k, v in vars(getattr(config, name)).items() if k != "layer_norm_eps"}
                               for name in ("f_config", "c_config", "q_config")}
    variant["vfeat_dim"] = vfeat

    def remap(ids):
        return [i if i < 5 else 5 + i % (vocab - 5) for i in ids]
    for video in variant["videos"]:
        video["feats"] = torch.randn(len(video["feats"]), vfeat)
        video["sub_input_ids"] = [remap(ids) for ids in video["sub_input_ids"]]
    for ex in variant["mlm"]:
        ex["input_ids"] = remap(ex["input_ids"])
        ex["txt_labels"] = [t if t < 0 else 5 + t % (vocab - 5) for t in ex["txt_labels"]]
    for v in variant["vsm"]:
        v["queries"] = [remap(q) for q in v["queries"]]
    for q in variant["videoqa"]:
        q["question"], q["answers"] = remap(q["question"]), [remap(a) for a in q["answers"]]
    with torch.no_grad():
        variant["outputs"] = {k: v.clone() for k, v in project_outputs(variant).items()}
    return variant


def test_cli_works_for_other_sizes_and_fails_on_a_mismatch(fixture, tmp_path):
    variant = variant_fixture(fixture)
    good = tmp_path / "variant.pt"
    torch.save(variant, good)
    result = run_cli(good)
    assert result.returncode == 0, result.stdout + result.stderr
    variant["outputs"]["vsm_st_logits"][0, 0, 0] += 1e-4
    bad = tmp_path / "variant_bad.pt"
    torch.save(variant, bad)
    result = run_cli(bad)
    assert result.returncode == 1
    assert "failing: vsm_st_logits" in result.stdout


def test_cli_missing_fixture_is_one_line():
    result = run_cli(ROOT / "no_such_fixture.pt")
    assert result.returncode != 0 and result.stderr.strip().count("\n") == 0
    assert "no_such_fixture.pt" in result.stderr
