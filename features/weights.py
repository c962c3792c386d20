"""Local weights for the encoders, loaded strictly; nothing downloads.

- ResNet-152: torchvision's ImageNet state dict (e.g. ``resnet152-394f9c45.pth`` or ``-f82ba261.pth``);
- SlowFast R50: a state dict in pytorchvideo's ``create_slowfast`` layout, bare or inside a checkpoint dict
  (pytorchvideo's ``SLOWFAST_8x8_R50.pyth`` keeps it under ``model_state``);
- CLIP: a Hugging Face checkpoint folder (``CLIPModel`` or ``CLIPVisionModel[WithProjection]``).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from features.clip import CLIP_MEAN, CLIP_STD, ClipImageEncoder

STATE_DICT_KEYS = ("model_state", "state_dict", "model")  # where checkpoint files nest the weights


class WeightsError(ValueError):
    """Weights that do not fit the encoder; the message names the file and the keys."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file (``torch.load(weights_only=True)``), unwrapped from a checkpoint dict."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and torch errors alike: the file is not a readable checkpoint
        raise WeightsError(f"{path}: cannot read as a torch checkpoint ({type(e).__name__}: {e})") from None
    for key in STATE_DICT_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: expected a state dict of tensors (or one under {', '.join(STATE_DICT_KEYS)})")
    return obj


def load_strict(module: nn.Module, path: str | Path, layout: str) -> None:
    """Load ``path`` into ``module`` with ``strict=True``; mismatches name the file, layout and first keys."""
    state = read_state_dict(path)
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} (expected {tuple(own[k].shape)})"
              for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = [f"{len(missing)} missing (e.g. {', '.join(missing[:3])})" if missing else "",
                 f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})" if unexpected else "",
                 f"shape mismatch: {'; '.join(shapes[:3])}" if shapes else ""]
        raise WeightsError(f"{path}: not a {layout} state dict: " + ", ".join(p for p in parts if p))
    module.load_state_dict(state, strict=True)


def load_clip_vision(folder: str | Path) -> tuple[ClipImageEncoder, tuple[float, ...], tuple[float, ...]]:
    """CLIP vision encoder from a local Hugging Face folder, with its pixel mean and std.

    The projection to CLIP's joint space is used when the checkpoint has it. Keys of the vision tower
    that the checkpoint lacks are an error (never silently random); text-tower keys are ignored.
    """
    from transformers import AutoConfig, CLIPConfig, CLIPVisionConfig, CLIPVisionModel, CLIPVisionModelWithProjection
    from transformers.utils import logging as hf_logging

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise WeightsError(f"{folder}: not a Hugging Face checkpoint folder (no config.json)")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report is checked below instead of printed
    progress = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
        if isinstance(config, CLIPConfig):  # a whole CLIP: its projection size is the top-level one
            config.vision_config.projection_dim = config.projection_dim
            config = config.vision_config
        if not isinstance(config, CLIPVisionConfig):
            raise ValueError(f"config.json describes a {type(config).__name__}, not CLIP")
        model, info = CLIPVisionModelWithProjection.from_pretrained(folder, config=config, local_files_only=True,
                                                                    output_loading_info=True)
        if "visual_projection.weight" in info["missing_keys"]:
            model, info = CLIPVisionModel.from_pretrained(folder, config=config, local_files_only=True,
                                                          output_loading_info=True)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise WeightsError(f"{folder}: cannot load a CLIP vision model ({e})") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if progress:
            hf_logging.enable_progress_bar()
    missing = sorted(info["missing_keys"])
    if missing or info.get("mismatched_keys"):
        raise WeightsError(f"{folder}: checkpoint lacks {len(missing)} CLIP vision weights "
                           f"(e.g. {', '.join(missing[:3])}) or has mismatched shapes {info.get('mismatched_keys')}")
    mean, std = CLIP_MEAN, CLIP_STD
    processor = folder / "preprocessor_config.json"
    if processor.is_file():
        conf = json.loads(processor.read_text())
        mean, std = tuple(conf.get("image_mean", mean)), tuple(conf.get("image_std", std))
    return ClipImageEncoder(model.eval()), mean, std
