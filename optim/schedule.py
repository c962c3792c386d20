"""Linear warm-up then linear decay to zero (the reference's ``get_lr_sched``), as a LambdaLR."""
from __future__ import annotations

import torch

MIN_LR = 1e-8


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the peak learning rate at optimiser step ``step`` (1-based)."""
    if step < warmup_steps:
        return step / warmup_steps
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def build_scheduler(optimizer: torch.optim.Optimizer, learning_rate: float, warmup_steps: int,
                    total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Each group's lr = learning_rate · lr_scale · factor(step), floored at 1e-8.

    LambdaLR counts from 0 at construction; the reference's first update is step 1, hence ``+ 1``.
    """
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] = learning_rate * group.get("lr_scale", 1.0)
    floor = MIN_LR / learning_rate if learning_rate > 0 else 0.0
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda epoch: max(lr_factor(epoch + 1, warmup_steps, total_steps), floor))


def build_optimizer(param_groups: list[dict], learning_rate: float, betas: tuple[float, float],
                    kind: str = "adamw") -> torch.optim.Optimizer:
    """torch AdamW (eps 1e-6 as the reference's HF-style AdamW), Adam or Adamax.

    AdamW and Adam run torch's fused kernel where the parameters live on a CPU or a GPU: the same update (to
    float rounding) in one kernel per group. On a CPU the default implementation loops over the tensors in
    Python — 205 ms per step for the demo model's 27 M parameters on one core, against 49 ms fused.
    """
    fused = _fusable(param_groups)
    if kind == "adamw":
        return torch.optim.AdamW(param_groups, lr=learning_rate, betas=betas, eps=1e-6, fused=fused)
    if kind == "adam":
        return torch.optim.Adam(param_groups, lr=learning_rate, betas=betas, fused=fused)
    if kind == "adamax":
        return torch.optim.Adamax(param_groups, lr=learning_rate, betas=betas)
    raise ValueError(f"unknown optimiser {kind!r} (expected adamw, adam or adamax)")


def _fusable(param_groups: list[dict]) -> bool | None:
    """True when every parameter is a floating-point tensor on a CPU or CUDA device (torch's fused Adam
    kernels); None (torch's default choice) otherwise."""
    params = [p for group in param_groups for p in group["params"]]
    ok = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return True if ok else None
