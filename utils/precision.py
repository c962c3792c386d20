"""Mixed precision through torch.autocast; fp16 adds a GradScaler (bf16 and fp32 need none)."""
from __future__ import annotations

import contextlib

import torch

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """Autocast context, loss scaling and the optimiser step for one precision setting."""

    def __init__(self, mode: str, device: torch.device) -> None:
        if mode not in DTYPES:
            raise ValueError(f"precision must be one of {list(DTYPES)}, got {mode!r}")
        self.mode = mode
        self.device_type = device.type
        self.scaler = torch.amp.GradScaler(device.type, enabled=mode == "fp16")

    def autocast(self) -> contextlib.AbstractContextManager:
        dtype = DTYPES[self.mode]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=dtype)

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer, parameters, max_norm: float) -> float:
        """Unscale, clip (max_norm ≤ 0: off), step. Returns the gradient norm before clipping."""
        self.scaler.unscale_(optimizer)
        if max_norm > 0:
            norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm)
        else:
            grads = [p.grad.norm() for p in parameters if p.grad is not None]
            norm = torch.linalg.vector_norm(torch.stack(grads)) if grads else torch.zeros(())
        self.scaler.step(optimizer)
        self.scaler.update()
        return float(norm)

    def state_dict(self) -> dict:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.scaler.load_state_dict(state)
