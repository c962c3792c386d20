"""Mixed precision through torch.autocast; fp16 adds a GradScaler (bf16 and fp32 need none).

Training runs the configured precision as asked. Inference (:func:`inference_precision`) runs it only
where the hardware multiplies it fast: bf16 on a CPU without bf16 units (x86 AVX512-BF16 / AMX, Arm
BF16) is emulated and slower than fp32, and fp16 autocast on a CPU is slower still.
"""
from __future__ import annotations

import contextlib
import functools
import os
import platform
from collections.abc import Callable
from pathlib import Path

import torch

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
# x86 (/proc/cpuinfo "flags") and Arm ("Features") names of bf16 matrix instructions
CPU_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}
FORCE_CPU_BF16 = "HERO_CPU_BF16"  # "1": trust that this CPU multiplies bf16 fast, "0": that it does not


def check_mode(mode: str) -> None:
    if mode not in DTYPES:
        raise ValueError(f"precision must be one of {list(DTYPES)}, got {mode!r}")


def autocast(mode: str, device_type: str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to ``mode``'s dtype on ``device_type``; nothing for fp32."""
    check_mode(mode)
    dtype = DTYPES[mode]
    return contextlib.nullcontext() if dtype is None else torch.autocast(device_type, dtype=dtype)


class Precision:
    """Autocast context, loss scaling and the optimiser step for one precision setting."""

    def __init__(self, mode: str, device: torch.device) -> None:
        check_mode(mode)
        self.mode = mode
        self.device_type = device.type
        self.scaler = torch.amp.GradScaler(device.type, enabled=mode == "fp16")

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.mode, self.device_type)

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


def cpu_flags(cpuinfo: str) -> set[str]:
    """The instruction-set flags of a /proc/cpuinfo text (x86 ``flags``, Arm ``Features``)."""
    found: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            found.update(value.split())
    return found


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """Whether this CPU has bf16 matrix instructions (read from /proc/cpuinfo; ``HERO_CPU_BF16=1|0``
    overrides, e.g. on systems without /proc)."""
    forced = os.environ.get(FORCE_CPU_BF16)
    if forced in ("0", "1"):
        return forced == "1"
    try:
        return bool(cpu_flags(Path("/proc/cpuinfo").read_text()) & CPU_BF16_FLAGS)
    except OSError:
        return False


def resolve_inference_precision(requested: str, device: torch.device, fast_bf16: bool | None = None
                                ) -> tuple[str, str | None]:
    """The precision inference runs for ``requested`` on ``device``, and why it differs (None if not).

    GPU: fp16 as asked; bf16 where the GPU supports it, else fp16. Other devices (CPU): bf16 only with
    bf16 units (``fast_bf16``, default: :func:`cpu_has_fast_bf16`); fp16 becomes bf16 there (CPU fp16
    autocast is slow and no faster than bf16), else both run fp32.
    """
    check_mode(requested)
    if requested == "fp32":
        return "fp32", None
    if device.type == "cuda":
        if requested == "bf16" and not torch.cuda.is_bf16_supported():
            return "fp16", "this GPU has no bf16: inference runs in fp16"
        return requested, None
    fast = cpu_has_fast_bf16() if fast_bf16 is None else fast_bf16
    cpu = platform.processor() or platform.machine() or "this CPU"
    if fast:
        if requested == "fp16":
            return "bf16", f"fp16 on {device.type} ({cpu}): inference runs in bf16 (fp16 needs CUDA)"
        return "bf16", None
    return "fp32", (f"{requested} asked, but {cpu} has no bf16 matrix units (AVX512-BF16 / AMX / Arm BF16; "
                    f"{FORCE_CPU_BF16}=1 overrides): inference runs in fp32, which is faster here")


_SAID: set[str] = set()


def inference_precision(requested: str, device: torch.device, log: Callable[[str], None]) -> str:
    """:func:`resolve_inference_precision`, saying a change once per process (evaluations repeat)."""
    mode, why = resolve_inference_precision(requested, device)
    if why is not None and why not in _SAID:
        _SAID.add(why)
        log(f"warning: {why}")
    return mode
