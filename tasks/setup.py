"""What every task does to start a run: one-line errors for bad inputs, and the task model with its starting
weights (``pretrained.from_pretrained``), seeded so new heads are identical on every rank."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

from config.loader import section
from config.schema import TrainOptions, WeightOptions
from model.config import HeroModelConfig
from pretrained.loading import DataShape, from_pretrained
from utils.distributed import Distributed

M = TypeVar("M", bound=nn.Module)


class SetupError(RuntimeError):
    """A run cannot start; the message says which input is wrong."""


def build_task_model(build: Callable[[HeroModelConfig], M], cfg: TrainOptions, data: DataShape, dist: Distributed,
                     log: Callable[[str], None], require_task_heads: bool = False) -> M:
    """The task model from the run's weight options, checked against ``data``, on the run's device."""
    torch.manual_seed(cfg.seed)  # identical initial weights of new heads on every rank
    loaded = from_pretrained(build, section(cfg, WeightOptions), data, require_task_heads=require_task_heads)
    model = loaded.model.to(dist.device)
    log(loaded.summary)
    log(describe(model, loaded.config))
    return model


def describe(model: nn.Module, model_config: HeroModelConfig) -> str:
    params = sum(p.numel() for p in model.parameters())
    return (f"{type(model).__name__}: {params / 1e6:.1f} M parameters (hidden {model_config.hidden_size}, "
            f"{model_config.f_config.num_hidden_layers}+{model_config.c_config.num_hidden_layers} layers, "
            f"vfeat {model_config.vfeat_dim})")
