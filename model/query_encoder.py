"""Query encoder: text-only Cross-modal pass → one vector per query (§1.8)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import TransformerConfig
from .embeddings import PositionEmbeddings
from .layers import LinearLayer, SelfAttention, mask_logits


class QueryEncoder(nn.Module):
    """Projection → positions → one self-attention block → attention ("modular") pooling."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.input_proj = LinearLayer(config.hidden_size, config.hidden_size,
                                      dropout=config.hidden_dropout_prob)
        self.position = PositionEmbeddings(config)
        self.self_attention = SelfAttention(config)
        self.pooling = nn.Linear(config.hidden_size, 1, bias=False)

    def forward(self, token_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """token_states (Q, T, D) from the Cross-modal Transformer, mask (Q, T) → (Q, D)."""
        hidden = self.self_attention(self.position(self.input_proj(token_states)), mask)
        weights = F.softmax(mask_logits(self.pooling(hidden).squeeze(-1), mask), dim=-1)  # (Q, T)
        return torch.einsum("qt,qtd->qd", weights, hidden)
