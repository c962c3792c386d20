"""Typed outputs of the HERO task models. ``loss`` is the scalar to back-propagate."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class MlmOutput:
    loss: torch.Tensor         # mean CE over masked tokens
    scores: torch.Tensor       # (M, V) vocabulary logits at the masked tokens
    token_losses: torch.Tensor  # (M,) per-token CE


@dataclass
class MfmNceOutput:
    loss: torch.Tensor          # mean NCE over masked frames
    predictions: torch.Tensor   # (M, Dv) predicted features of masked frames
    negatives: torch.Tensor     # (U, Dv) predicted features used as negatives
    frame_losses: torch.Tensor  # (M,)
    accuracy_hits: torch.Tensor  # (M,) bool: the true frame scored highest


@dataclass
class MffrOutput:
    loss: torch.Tensor           # mean over masked frames of ‖pred − target‖₂
    predictions: torch.Tensor    # (M, Dv)
    squared_errors: torch.Tensor  # (M, Dv) element-wise (pred − target)²


@dataclass
class FomOutput:
    loss: torch.Tensor    # mean CE over reordered positions
    scores: torch.Tensor  # (B·L, max_clip_len) position logits for every frame slot
    hits: torch.Tensor    # (R,) bool at the reordered positions


@dataclass
class LvwmOutput:
    """LVWM output over the (gathered) batch: every rank holds the same global values."""

    loss: torch.Tensor          # mean MIL-NCE over all queries
    query_losses: torch.Tensor  # (Q·world,)
    video_scores: torch.Tensor  # (Q·world, B·world) max over a video's frames of the word-bag score
    query_video: torch.Tensor   # (Q·world,) long, each query's video (column of ``video_scores``)


@dataclass
class RetrievalOutput:
    """VSM / VCMR training output. Component losses are unweighted; ``loss`` is the weighted sum."""

    loss: torch.Tensor
    loss_span: torch.Tensor     # CE_st + CE_ed (0 when the span loss is off)
    loss_neg_ctx: torch.Tensor  # (query, negative video) ranking loss
    loss_neg_q: torch.Tensor    # (negative query, video) ranking loss
    q2video_scores: torch.Tensor  # (Q, B·world) max-cosine scores over the (gathered) videos
    st_logits: torch.Tensor     # (Q, L) start logits on each query's own video
    ed_logits: torch.Tensor     # (Q, L)


@dataclass
class RetrievalScores:
    """Inference scores of queries against a set of videos."""

    q2video_scores: torch.Tensor  # (Q, V) max-cosine in [-1, 1]
    st_logits: torch.Tensor       # (Q, V, L) masked start logits
    ed_logits: torch.Tensor       # (Q, V, L)


@dataclass
class VideoQaOutput:
    loss: torch.Tensor           # qa_loss + lw_st_ed · temporal_loss
    logits: torch.Tensor         # (B, K) answer logits
    qa_loss: torch.Tensor        # CE over candidates
    temporal_loss: torch.Tensor  # (CE_st + CE_ed) / 2 over questions with a timestamp
    st_logits: torch.Tensor      # (B, L)
    ed_logits: torch.Tensor      # (B, L)


@dataclass
class MtcOutput:
    loss: torch.Tensor         # weight · (loss_t2v + loss_v2t)
    loss_t2v: torch.Tensor     # CE of subtitle keys over clip candidates
    loss_v2t: torch.Tensor     # CE of clip keys over subtitle candidates
    hits: torch.Tensor         # (2·M,) bool: the nearest value scored highest, both directions
    logits_t2v: torch.Tensor   # (B·world, K, V + R)
    logits_v2t: torch.Tensor   # (B·world, K, V + R)
