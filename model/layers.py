"""Building blocks shared by every HERO Transformer and head.

Numerics follow the reference exactly (hero-reference.md §1.3): post-LayerNorm BERT layers, erf GELU,
an additive key mask of -10000, LayerNorm eps from the config (1e-12) inside layers and 1e-5 in every
other LayerNorm.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import TransformerConfig

# Every LayerNorm outside the Transformer layers (embeddings, heads, LinearLayer/MLPLayer).
OUTER_LAYER_NORM_EPS = 1e-5
# Value given to masked-out logits by the reference's ``mask_logits``.
MASKED_LOGIT = -1e4


def mask_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x·m + (1−m)·(−1e4)``: the reference's soft masking (kept, not -inf, for parity)."""
    mask = mask.to(logits.dtype)
    return logits * mask + (1.0 - mask) * MASKED_LOGIT


def additive_attention_mask(key_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(N, L) keep-mask → (N, 1, 1, L) additive mask: 0 to keep, -10000 to drop.

    -10000 rather than -inf: identical results wherever a row has a valid key, and no NaN for a row
    that has none.
    """
    return ((1.0 - key_mask.to(dtype)) * -10000.0)[:, None, None, :]


@dataclass
class PackedLayout:
    """Where the valid tokens of a ragged batch of sequences sit in its padded (S, N) grid.

    Token-wise layers (projections, feed-forward, LayerNorm) run on the valid tokens only, as one
    flat (V, D) tensor; only attention scatters them into the padded grid. This removes the padding
    work that dominates the Cross-modal Transformer (subtitle sequences vary from a few to ~40 slots).
    """

    index: torch.Tensor  # (V,) flat indices into S·N, row-major
    key_mask: torch.Tensor  # (S, N) bool

    @classmethod
    def from_mask(cls, key_mask: torch.Tensor) -> PackedLayout:
        return cls(torch.nonzero(key_mask.flatten(), as_tuple=True)[0], key_mask.bool())

    def to_padded(self, flat: torch.Tensor) -> torch.Tensor:
        """(V, C) → (S, N, C) with zeros at padding."""
        rows, width = self.key_mask.shape
        padded = flat.new_zeros(rows * width, flat.shape[-1]).index_copy_(0, self.index, flat)  # in place: no clone
        return padded.view(rows, width, flat.shape[-1])

    def to_flat(self, padded: torch.Tensor) -> torch.Tensor:
        """(S, N, C) → (V, C)."""
        return padded.reshape(-1, padded.shape[-1]).index_select(0, self.index)


class SelfAttention(nn.Module):
    """Multi-head self-attention + output projection + dropout + residual LayerNorm.

    The reference's ``BertAttention``; Q, K and V are one fused projection (one matmul) and the
    attention itself is ``F.scaled_dot_product_attention``.
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.attention_dropout = config.attention_probs_dropout_prob
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor, key_mask: torch.Tensor,
                layout: PackedLayout | None = None) -> torch.Tensor:
        """hidden (N, L, D) with key_mask (N, L), 1/True = attend → (N, L, D);
        or, with ``layout``, the valid tokens only: hidden (V, D) → (V, D)."""
        qkv = self.qkv(hidden)
        if layout is not None:
            qkv = layout.to_padded(qkv)  # (S, N, 3D)
            key_mask = layout.key_mask
        n, length, _ = qkv.shape
        dim = qkv.shape[-1] // 3
        qkv = qkv.view(n, length, 3, self.num_heads, dim // self.num_heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (N, H, L, hd)
        mask = additive_attention_mask(key_mask, query.dtype)
        context = F.scaled_dot_product_attention(
            query, key, value, attn_mask=mask,
            dropout_p=self.attention_dropout if self.training else 0.0)
        context = context.transpose(1, 2).reshape(n, length, dim)  # (N, L, D)
        if layout is not None:
            context = layout.to_flat(context)  # (V, D)
        return self.norm(self.dropout(self.out(context)) + hidden)


class FeedForward(nn.Module):
    """Linear → GELU → Linear → dropout → residual LayerNorm (second half of a BERT layer)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.up = nn.Linear(config.hidden_size, config.intermediate_size)
        self.down = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.norm(self.dropout(self.down(F.gelu(self.up(hidden)))) + hidden)


class TransformerLayer(nn.Module):
    """One post-LN BERT layer."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.attention = SelfAttention(config)
        self.feed_forward = FeedForward(config)

    def forward(self, hidden: torch.Tensor, key_mask: torch.Tensor,
                layout: PackedLayout | None = None) -> torch.Tensor:
        return self.feed_forward(self.attention(hidden, key_mask, layout))


class TransformerStack(nn.Module):
    """``num_hidden_layers`` TransformerLayers sharing one key mask."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden: torch.Tensor, key_mask: torch.Tensor,
                layout: PackedLayout | None = None) -> torch.Tensor:
        for layer in self.layers:
            hidden = layer(hidden, key_mask, layout)
        return hidden


class LinearLayer(nn.Module):
    """LayerNorm → dropout → Linear → ReLU (the reference's ``LinearLayer``)."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_dim, eps=OUTER_LAYER_NORM_EPS)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.linear(self.dropout(self.norm(x))))


class MLPLayer(nn.Module):
    """Linear(in → 2·in) → GELU → LayerNorm → Linear(2·in → out); no dropout (reference ``MLPLayer``)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, 2 * in_dim)
        self.norm = nn.LayerNorm(2 * in_dim, eps=OUTER_LAYER_NORM_EPS)
        self.fc2 = nn.Linear(2 * in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.norm(F.gelu(self.fc1(x))))


def init_bert_weights(module: nn.Module, std: float) -> None:
    """Reference initialisation: Linear/Embedding ~ N(0, std), biases 0, LayerNorm 1/0.

    Apply with ``model.apply(partial(init_bert_weights, std=...))``. Like the reference it also
    overwrites ``padding_idx`` rows of embeddings.
    """
    if isinstance(module, (nn.Linear, nn.Embedding)):
        module.weight.data.normal_(mean=0.0, std=std)
    if isinstance(module, nn.Linear) and module.bias is not None:
        module.bias.data.zero_()
    if isinstance(module, nn.LayerNorm):
        module.weight.data.fill_(1.0)
        module.bias.data.zero_()
