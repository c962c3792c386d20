"""Learning-rate schedule and parameter groups."""
import pytest
import torch

from model.pretrain import HeroForPretraining
from optim.param_groups import build_param_groups
from optim.schedule import build_optimizer, build_scheduler, lr_factor
from tests.helpers import tiny_config


def test_warmup_then_linear_decay_like_the_reference():
    assert lr_factor(1, 10, 100) == pytest.approx(0.1)
    assert lr_factor(10, 10, 100) == pytest.approx(1.0)
    assert lr_factor(55, 10, 100) == pytest.approx(0.5)
    assert lr_factor(100, 10, 100) == 0.0


def test_scheduler_applies_lr_mul_and_starts_at_step_one():
    model = HeroForPretraining(tiny_config())
    groups = build_param_groups(model, weight_decay=0.01, lr_mul=10.0)
    optimizer = build_optimizer(groups, 1e-3, (0.9, 0.98))
    scheduler = build_scheduler(optimizer, 1e-3, warmup_steps=4, total_steps=8)
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert lrs["backbone/decay"] == pytest.approx(1e-3 * 0.25)  # first update = step 1 of 4 warm-up
    assert lrs["heads/decay"] == pytest.approx(1e-2 * 0.25)
    for _ in range(7):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] >= 1e-8  # floored, never exactly 0 before the end


def test_no_decay_on_biases_and_layer_norms_and_tied_weights_once():
    model = HeroForPretraining(tiny_config())
    groups = {g["name"]: g for g in build_param_groups(model, 0.01)}
    no_decay = {id(p) for g in groups.values() if g["weight_decay"] == 0 for p in g["params"]}
    assert id(model.hero.cross_modal.encoder.layers[0].attention.norm.weight) in no_decay
    assert id(model.frame_regression.norm.weight) in no_decay  # the reference decays this one
    assert id(model.hero.cross_modal.encoder.layers[0].attention.qkv.weight) not in no_decay
    all_params = [p for g in groups.values() for p in g["params"]]
    assert len(all_params) == len({id(p) for p in all_params}) == len(list(model.parameters()))
    assert isinstance(build_optimizer(list(groups.values()), 1e-4, (0.9, 0.98)), torch.optim.AdamW)


def test_adamw_runs_fused_on_cpu_with_the_same_updates_as_torch_default():
    def train(fused_ok: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = HeroForPretraining(tiny_config())
        groups = build_param_groups(model, weight_decay=0.01, lr_mul=10.0)
        optimizer = (build_optimizer(groups, 1e-3, (0.9, 0.98)) if fused_ok
                     else torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.98), eps=1e-6))
        assert optimizer.defaults["fused"] is (True if fused_ok else None)
        gen = torch.Generator().manual_seed(1)
        for _ in range(5):
            for p in model.parameters():
                p.grad = torch.randn(p.shape, generator=gen) * 1e-2
            optimizer.step()
        return [p.detach().clone() for p in model.parameters()]

    for fused, plain in zip(train(True), train(False)):
        torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-6)
