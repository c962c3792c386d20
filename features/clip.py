"""A Hugging Face CLIP vision tower as a single-stream frame encoder (one vector per window).

The vector is CLIP's image embedding (``visual_projection`` of the pooled class token) when the checkpoint
has the projection, else the pooled class token itself (``pooler_output``). Loading from a local folder is
:func:`features.weights.load_clip_vision`.
"""
from __future__ import annotations

import torch
from torch import nn

# OpenAI CLIP's pixel statistics; a checkpoint's preprocessor_config.json overrides them.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class ClipImageEncoder(nn.Module):
    """``forward(pixels (B, 3, S, S), CLIP-normalised)`` → ``(B, feature_dim)``.

    Args:
        vision_model: a ``transformers`` ``CLIPVisionModelWithProjection`` or ``CLIPVisionModel``.
    """

    def __init__(self, vision_model: nn.Module) -> None:
        super().__init__()
        self.model = vision_model
        self.projected = hasattr(vision_model, "visual_projection")
        config = vision_model.config
        self.feature_dim = int(config.projection_dim if self.projected else config.hidden_size)
        self.image_size = int(config.image_size)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        out = self.model(pixel_values=pixels)
        return out.image_embeds if self.projected else out.pooler_output
