"""Temporal Transformer over the whole clip's frame sequence (§1.7)."""
from __future__ import annotations

import torch
from torch import nn

from .config import TransformerConfig
from .embeddings import PositionEmbeddings
from .layers import TransformerStack


class TemporalTransformer(nn.Module):
    """Frame positions 0..L−1 + LayerNorm, then ``c_config.num_hidden_layers`` BERT layers."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.embeddings = PositionEmbeddings(config)
        self.encoder = TransformerStack(config)

    def forward(self, frames: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """frames (B, L, D), frame_mask (B, L) → (B, L, D)."""
        return self.encoder(self.embeddings(frames), frame_mask)
