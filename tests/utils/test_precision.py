"""Inference precision: what runs where, said once."""
import pytest
import torch

from utils import precision
from utils.precision import autocast, cpu_flags, inference_precision, resolve_inference_precision

CPU = torch.device("cpu")


def test_cpu_flags_of_x86_and_arm():
    assert {"avx2", "avx512_bf16"} <= cpu_flags("processor : 0\nflags\t\t: fpu avx2 avx512_bf16\n")
    assert "bf16" in cpu_flags("Features\t: fp asimd bf16 i8mm\n")
    assert not cpu_flags("model name : x\n") & precision.CPU_BF16_FLAGS


@pytest.mark.parametrize("requested, fast, mode, said", [
    ("fp32", False, "fp32", None), ("fp32", True, "fp32", None),
    ("bf16", True, "bf16", None), ("bf16", False, "fp32", "no bf16 matrix units"),
    ("fp16", True, "bf16", "fp16 needs CUDA"), ("fp16", False, "fp32", "no bf16 matrix units"),
])
def test_cpu_inference_runs_what_the_cpu_runs_fast(requested, fast, mode, said):
    got, why = resolve_inference_precision(requested, CPU, fast_bf16=fast)
    assert got == mode
    assert (why is None) if said is None else (said in why)


def test_a_change_is_said_once(monkeypatch):
    monkeypatch.setenv(precision.FORCE_CPU_BF16, "0")
    precision.cpu_has_fast_bf16.cache_clear()
    monkeypatch.setattr(precision, "_SAID", set())
    said = []
    try:
        assert [inference_precision("bf16", CPU, said.append) for _ in range(3)] == ["fp32"] * 3
        assert inference_precision("fp32", CPU, said.append) == "fp32"
    finally:
        precision.cpu_has_fast_bf16.cache_clear()
    assert len(said) == 1 and said[0].startswith("warning: bf16 asked")


def test_bad_mode_is_one_clear_error():
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_inference_precision("int8", CPU)


def test_autocast_bf16_makes_bf16_matmuls():
    with autocast("bf16", "cpu"):
        assert (torch.ones(2, 3) @ torch.ones(3, 2)).dtype == torch.bfloat16
    with autocast("fp32", "cpu"):
        assert (torch.ones(2, 3) @ torch.ones(3, 2)).dtype == torch.float32
