"""Temporal Transformer over the whole clip's frame sequence (§1.7), optionally with HTWA windows."""
from __future__ import annotations

import torch
from torch import nn

from .config import TemporalAttentionConfig, TransformerConfig
from .embeddings import PositionEmbeddings
from .layers import TransformerStack
from .temporal_windows import windowed_self_attention


class TemporalTransformer(nn.Module):
    """Frame positions 0..L−1 + LayerNorm, then ``c_config.num_hidden_layers`` BERT layers.

    With ``attention.windows`` a layer with a window attends within temporal windows only
    (:mod:`model.temporal_windows`); parameters are the same either way, so checkpoints load unchanged.
    """

    def __init__(self, config: TransformerConfig, attention: TemporalAttentionConfig | None = None) -> None:
        super().__init__()
        self.embeddings = PositionEmbeddings(config)
        self.encoder = TransformerStack(config)
        self.attention_config = attention or TemporalAttentionConfig()
        self.windows = list(self.attention_config.windows or [None] * config.num_hidden_layers)
        self.max_frames = config.max_position_embeddings

    def forward(self, frames: torch.Tensor, frame_mask: torch.Tensor,
                segment_anchor: torch.Tensor | None = None) -> torch.Tensor:
        """frames (B, L, D), frame_mask (B, L) → (B, L, D).

        ``segment_anchor`` (B, L): first frame of each frame's subtitle (subtitle-aligned windows only).
        """
        if frames.shape[1] > self.max_frames:
            raise ValueError(f"{frames.shape[1]} frames exceed the Temporal Transformer's frame position "
                             f"table ({self.max_frames} rows, c_config.max_position_embeddings)")
        hidden = self.embeddings(frames)
        if not self.attention_config.windowed:
            return self.encoder(hidden, frame_mask)
        anchor = segment_anchor if self.attention_config.align == "subtitles" else None
        for layer, window in zip(self.encoder.layers, self.windows):
            if window is None:
                hidden = layer(hidden, frame_mask)
            else:
                hidden = layer.feed_forward(
                    windowed_self_attention(layer.attention, hidden, frame_mask, window, anchor))
        return hidden
