"""Reading and writing model weight files (project format, or reference HERO checkpoints).

Project format: ``{"format": "hero-lib-model/1", "model_config": {...reference JSON layout...},
"state_dict": {project keys: fp32 tensors}}``. Reference checkpoints (a flat state dict with
``v_encoder.…`` keys, fp16 allowed, a ``vocab_padded`` flag) are accepted everywhere and converted on
the fly. Writes are atomic: a temp file in the same folder, fsync, then rename.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from config.loader import to_dict
from model.config import HeroModelConfig
from pretrained.reference_keys import ConversionReport, is_reference_state_dict, reference_to_project
from utils.atomic_io import atomic_torch_save

FORMAT = "hero-lib-model/1"


class CheckpointError(ValueError):
    """A weight file cannot be read as a HERO checkpoint."""


@dataclass
class WeightsFile:
    state_dict: dict[str, torch.Tensor]
    model_config: dict[str, Any] | None  # None for reference checkpoints (they carry none)
    source_format: str                   # "project" or "reference"
    conversion: ConversionReport | None = None


def read_weights(path: str | os.PathLike) -> WeightsFile:
    """Load a project or reference checkpoint onto the CPU, in project key names."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a corrupt or foreign file
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({error})") from error
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dict, got {type(data).__name__}")
    if data.get("format") == FORMAT:
        return WeightsFile(data["state_dict"], data.get("model_config"), "project")
    if is_reference_state_dict(data):
        state, report = reference_to_project(data)
        if report.unknown:
            raise CheckpointError(f"{path}: unknown reference keys: {', '.join(report.unknown[:10])}")
        return WeightsFile(state, None, "reference", report)
    raise CheckpointError(f"{path}: neither a project checkpoint (format {FORMAT!r}) nor a "
                          f"reference HERO state dict (keys starting with 'v_encoder.')")


def save_weights(path: str | os.PathLike, state_dict: dict[str, torch.Tensor],
                 model_config: dict[str, Any]) -> None:
    """Write a project-format model checkpoint (fp32, CPU) atomically."""
    state = {k: v.detach().to("cpu", torch.float32) if v.is_floating_point() else v.detach().cpu()
             for k, v in state_dict.items()}
    atomic_torch_save({"format": FORMAT, "model_config": model_config, "state_dict": state}, path)


def model_config_dict(model_config: HeroModelConfig) -> dict[str, Any]:
    """The config as plain JSON values (the reference JSON layout), as stored in a checkpoint."""
    return json.loads(json.dumps(to_dict(model_config)))


def model_writer(model_config: HeroModelConfig) -> Callable[[Path, dict[str, torch.Tensor]], None]:
    """``write(path, state_dict)``: project-format checkpoints of one model (a run's ``save_model``)."""
    config = model_config_dict(model_config)
    return lambda path, state_dict: save_weights(path, state_dict, config)
