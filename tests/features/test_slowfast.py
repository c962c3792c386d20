"""features/slowfast.py: pytorchvideo's create_slowfast key layout (strict load) and the same outputs.

pytorchvideo (0.1.5, test-only) imports torchvision at package import for a RoIAlign that SlowFast never
uses; torchvision does not load with the CPU torch build here, so a stand-in module is put in
``sys.modules`` for the import (this test only).
"""
from __future__ import annotations

import sys
import types

import pytest
import torch

from features.slowfast import slow_frame_index, slowfast_r50
from features.weights import load_strict


@pytest.fixture(scope="module")
def create_slowfast():
    patch = pytest.MonkeyPatch()
    try:
        import torchvision  # noqa: F401
    except Exception:
        stub, ops = types.ModuleType("torchvision"), types.ModuleType("torchvision.ops")
        ops.RoIAlign = object
        stub.ops = ops
        patch.setitem(sys.modules, "torchvision", stub)
        patch.setitem(sys.modules, "torchvision.ops", ops)
    try:
        slowfast = pytest.importorskip("pytorchvideo.models.slowfast", reason="pip install pytorchvideo==0.1.5")
        yield slowfast.create_slowfast
    finally:
        patch.undo()


def test_matches_pytorchvideo_create_slowfast(create_slowfast, tmp_path):
    torch.manual_seed(0)
    size = 32  # 32 x 32 input → 1 x 1 after the network; pytorchvideo's head pools a fixed (T, 1, 1) there
    reference = create_slowfast(head_pool_kernel_sizes=((8, 1, 1), (32, 1, 1))).eval()
    for m in reference.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.normal_(0, 0.05)
            m.running_var.uniform_(0.8, 1.2)
    path = tmp_path / "SLOWFAST_8x8_R50.pyth"
    torch.save({"model_state": reference.state_dict()}, path)  # as pytorchvideo's released checkpoint nests it
    ours = slowfast_r50().eval()
    load_strict(ours, path, "pytorchvideo SlowFast 8x8 R50")  # strict=True inside
    reference.blocks[6].proj = torch.nn.Identity()  # its head then returns the pooled slow ‖ fast vector
    fast = torch.randn(2, 3, 32, size, size)
    slow = fast[:, :, slow_frame_index(32)]
    with torch.no_grad():
        want = reference([slow, fast])
        got = ours(slow, fast)
    assert got.shape == want.shape == (2, 2304)
    assert want.abs().max() > 0.1
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_slow_pathway_takes_every_fourth_frame_ends_included():
    assert slow_frame_index(32).tolist() == [0, 4, 8, 13, 17, 22, 26, 31]
