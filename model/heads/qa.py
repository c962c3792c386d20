"""TVQA / How2QA heads: temporal-aware answer pooling and start/end localisation (§4.3)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import MLPLayer, mask_logits


class VideoQaHead(nn.Module):
    """Answer logits and start/end logits from frame states fused with each QA candidate."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.answer_pool = nn.Linear(hidden, 1, bias=False)
        self.answer_mlp = MLPLayer(hidden, 1)
        self.span_pool = nn.Linear(hidden, 1, bias=False)
        self.span_mlp = MLPLayer(hidden, 2)

    def forward(self, frames: torch.Tensor, frame_mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """frames (B, K, L, D), frame_mask (B, K, L) → answer logits (B, K), start/end (B, L).

        Answers: attention over frames per candidate, then an MLP. Localisation: attention over the
        K candidates per frame (the candidates vote on each frame), then an MLP to 2 logits.
        """
        answer_attention = F.softmax(
            mask_logits(self.answer_pool(frames).squeeze(-1), frame_mask), dim=-1)  # (B, K, L)
        pooled = torch.einsum("bkl,bkld->bkd", answer_attention, frames)
        logits = self.answer_mlp(pooled).squeeze(-1)  # (B, K)
        candidate_attention = F.softmax(self.span_pool(frames).squeeze(-1), dim=1)  # (B, K, L)
        per_frame = torch.einsum("bkl,bkld->bld", candidate_attention, frames)
        span = self.span_mlp(per_frame)  # (B, L, 2)
        mask = frame_mask[:, 0]
        return logits, mask_logits(span[..., 0], mask), mask_logits(span[..., 1], mask)
