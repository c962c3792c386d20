"""Input embeddings of the two HERO Transformers (hero-reference.md §1.4, §1.7)."""
from __future__ import annotations

import torch
from torch import nn

from .config import TransformerConfig
from .layers import OUTER_LAYER_NORM_EPS

# The reference never passes token-type ids and its embedding defaults them to 1: text and frames
# both use row 1 of the token-type table, row 0 is never read.
TOKEN_TYPE = 1


class TextEmbeddings(nn.Module):
    """word + position + token type → LayerNorm → dropout."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.word = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=OUTER_LAYER_NORM_EPS)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def type_vector(self) -> torch.Tensor:
        """The token-type row every text token and frame receives, (D,)."""
        return self.token_type.weight[TOKEN_TYPE]

    def forward(self, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """ids (N, T), positions (T,) → (N, T, D)."""
        hidden = self.word(ids) + self.position(positions) + self.type_vector()
        return self.dropout(self.norm(hidden))


class FrameEmbeddings(nn.Module):
    """Raw frame features → Cross-modal Transformer inputs.

    LayerNorm(Dv) → Linear(Dv → D) + local frame position + the text token-type row → LayerNorm →
    dropout. With an MFM mask, a learned mask vector (row 1) is added to masked (zeroed) frames and
    row 0 to every other frame, as the reference does.
    """

    def __init__(self, config: TransformerConfig, vfeat_dim: int, max_frames: int) -> None:
        super().__init__()
        self.feature_norm = nn.LayerNorm(vfeat_dim, eps=OUTER_LAYER_NORM_EPS)
        self.project = nn.Linear(vfeat_dim, config.hidden_size)
        self.position = nn.Embedding(max_frames, config.hidden_size)
        self.mask_embedding = nn.Embedding(2, vfeat_dim)
        self.norm = nn.LayerNorm(config.hidden_size, eps=OUTER_LAYER_NORM_EPS)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, feats: torch.Tensor, positions: torch.Tensor, type_vector: torch.Tensor,
                mfm_mask: torch.Tensor | None = None) -> torch.Tensor:
        """feats (S, F, Dv), positions (F,), type_vector (D,), mfm_mask (S, F) → (S, F, D)."""
        if mfm_mask is not None:
            feats = feats.masked_fill(mfm_mask[..., None], 0.0) + self.mask_embedding(mfm_mask.long())
        hidden = self.project(self.feature_norm(feats)) + self.position(positions) + type_vector
        return self.dropout(self.norm(hidden))


class PositionEmbeddings(nn.Module):
    """x + position → LayerNorm → dropout (Temporal Transformer frames, query encoder tokens)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.position = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=OUTER_LAYER_NORM_EPS)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden (N, L, D) → (N, L, D), positions 0..L−1."""
        positions = torch.arange(hidden.shape[1], device=hidden.device)
        return self.dropout(self.norm(hidden + self.position(positions)))
