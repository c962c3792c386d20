"""Real multi-process runs (gloo on CPU): N processes give the gradients of one process on the
combined batch, including the VSM ranking loss and the LVWM bag loss over negatives gathered from every rank."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers_runs import find_horovodrun
from tests.utils.grad_batches import NUM_CLIPS, batches_for, build_model

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "tests/utils/dist_grad_worker.py"


def single_process_grads():
    model = build_model()
    grads = {}
    for name, batch in batches_for(list(range(NUM_CLIPS))).items():
        model.zero_grad(set_to_none=True)
        output = model(batch)
        output.loss.backward()
        grads[name] = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
        grads[name + "_loss"] = output.loss.detach()
    return grads


def compare(distributed, single):
    for task in ("vsm", "mlm", "lvwm", "mtc"):
        assert torch.allclose(distributed[task + "_loss"], single[task + "_loss"], atol=1e-6)
        assert set(single[task]) <= set(distributed[task])
        for key, grad in single[task].items():
            assert torch.allclose(distributed[task][key], grad, atol=1e-6, rtol=1e-4), f"{task}: {key}"
    # the ranking loss really reached the query encoder through the gathered scores
    assert single["vsm"]["retrieval.query_encoder.pooling.weight"].abs().sum() > 0
    # LVWM's bag loss over gathered frames reached both the text pass and the video-only pass
    assert single["lvwm"]["hero.cross_modal.text_embeddings.word.weight"].abs().sum() > 0
    assert single["lvwm"]["hero.frame_transform.linear.weight"].abs().sum() > 0
    # MTC's negatives from the other rank's videos reached both projections
    assert single["mtc"]["mtc_head.text_proj.weight"].abs().sum() > 0


def run(cmd, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return torch.load(tmp_path / "grads.pt", weights_only=True)


@pytest.mark.multiprocess
def test_torchrun_two_processes_equal_one_process(tmp_path):
    out = tmp_path / "grads.pt"
    grads = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                 str(WORKER), "--out", str(out)], tmp_path)
    compare(grads, single_process_grads())


@pytest.mark.multiprocess
def test_horovodrun_two_processes_equal_one_process(tmp_path):
    horovodrun = find_horovodrun()
    if horovodrun is None:
        if os.environ.get("HERO_REQUIRE_HOROVOD"):
            pytest.fail("horovodrun not found but HERO_REQUIRE_HOROVOD is set")
        pytest.skip("horovod not installed (bash scripts/install_horovod.sh)")
    out = tmp_path / "grads.pt"
    grads = run([horovodrun, "-np", "2", "-H", "localhost:2", "--gloo", sys.executable, str(WORKER),
                 "--out", str(out)], tmp_path)
    compare(grads, single_process_grads())
