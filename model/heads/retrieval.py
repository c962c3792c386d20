"""Video-subtitle matching / VCMR heads: query encoder, span predictor, video-level ranking (§1.9, §2.6).

The same head serves VSM pre-training and VCMR fine-tuning. Cross-rank gathering of in-batch
negatives is injected by the engine as a plain callable, so this file stays free of distributed code.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..config import HeroModelConfig
from ..layers import mask_logits
from ..query_encoder import QueryEncoder

Gather = Callable[[torch.Tensor], torch.Tensor]


def identity_gather(tensor: torch.Tensor) -> torch.Tensor:
    """Single-process stand-in for the engine's ``all_gather_with_grad``."""
    return tensor


@dataclass
class RetrievalLossConfig:
    """Loss options of VSM / VCMR (reference names; schedules are applied by the trainer)."""

    lw_st_ed: float = 0.01
    lw_neg_ctx: float = 8.0
    lw_neg_q: float = 8.0
    ranking_loss_type: Literal["hinge", "lse"] = "hinge"
    margin: float = 0.1
    use_all_neg: bool = True
    hard_pool_size: int = 20
    hard_neg_weight: float = 10.0
    use_hard_negative: bool = False


@dataclass
class RetrievalWeights:
    """This step's loss weights (the trainer's schedule decides them; the model does not)."""

    lw_st_ed: float
    lw_neg_ctx: float
    lw_neg_q: float
    use_hard_negative: bool
    hard_pool_size: int = 20
    hard_neg_weight: float = 10.0


class SpanPredictor(nn.Module):
    """Query-frame similarity → 1-D convolutions → start / end logits over frames.

    ``zero_padding``: the similarity at padded frame slots is zeroed before the convolutions, so a
    clip's logits do not depend on how long the other clips of its batch are. The reference feeds
    the padded slots' values to the kernel (its results near a clip's end change with the batch);
    ``zero_padding=False`` reproduces that for parity checks.
    """

    def __init__(self, hidden: int, zero_padding: bool = True) -> None:
        super().__init__()
        self.zero_padding = zero_padding
        self.query_linear = nn.Linear(hidden, hidden)
        self.start_conv = nn.Conv1d(1, 1, kernel_size=5, stride=1, padding=2, bias=False)
        self.end_conv = nn.Conv1d(1, 1, kernel_size=5, stride=1, padding=2, bias=False)

    def logits_from_similarity(self, similarity: torch.Tensor, frame_mask: torch.Tensor
                               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Start / end logits from query·frame similarities (…, L) (queries already projected)."""
        return self._logits(similarity, frame_mask)

    def _logits(self, similarity: torch.Tensor, frame_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = similarity.shape
        if self.zero_padding:
            similarity = similarity * frame_mask.to(similarity.dtype)
        # The two 1-channel, width-5 convolutions as 5 shifted multiply-adds on (rows, L): the same
        # cross-correlation with zero padding 2, much faster than conv1d with one channel.
        flat = similarity.reshape(-1, shape[-1])  # (rows, L)
        padded = F.pad(flat, (2, 2))
        windows = torch.stack([padded[:, j: j + shape[-1]] for j in range(5)], -1)  # (rows, L, 5)
        kernels = torch.stack([self.start_conv.weight.view(5), self.end_conv.weight.view(5)], -1)  # (5, 2)
        start, end = (windows @ kernels.to(windows.dtype)).unbind(-1)
        return mask_logits(start.view(shape), frame_mask), mask_logits(end.view(shape), frame_mask)

    def paired(self, queries: torch.Tensor, frames: torch.Tensor,
               frame_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each query on its own video: queries (Q, D), frames (Q, L, D) → start/end (Q, L)."""
        similarity = torch.einsum("qd,qld->ql", self.query_linear(queries), frames)
        return self._logits(similarity, frame_mask)

    def cross(self, queries: torch.Tensor, frames: torch.Tensor,
              frame_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every query on every video: (Q, D), (V, L, D) → start/end (Q, V, L)."""
        similarity = torch.einsum("qd,vld->qvl", self.query_linear(queries), frames)
        return self._logits(similarity, frame_mask[None].expand_as(similarity))


def video_level_scores(queries: torch.Tensor, frames: torch.Tensor,
                       frame_mask: torch.Tensor) -> torch.Tensor:
    """Max over valid frames of the cosine between each query and each video's frames, (Q, V)."""
    queries = F.normalize(queries, dim=-1, eps=1e-5)
    frames = F.normalize(frames, dim=-1, eps=1e-5)
    cosine = torch.einsum("qd,vld->qvl", queries, frames)  # (Q, V, L)
    cosine = mask_logits(cosine, frame_mask[None].expand_as(cosine))
    return cosine.max(dim=-1).values


def _pair_loss(negative: torch.Tensor, positive: torch.Tensor, loss_type: str,
               margin: float) -> torch.Tensor:
    if loss_type == "hinge":
        return torch.clamp(margin + negative - positive, min=0)
    return F.softplus(negative - positive)  # log(1 + exp(s⁻ − s⁺))


def _hard_weights(num_negatives: int, pool: int, weight: float, like: torch.Tensor) -> torch.Tensor:
    """Column weights for negatives sorted by descending score: ``weight`` on the pool, 0.1 after."""
    weights = torch.full((num_negatives,), 0.1, dtype=like.dtype, device=like.device)
    weights[:pool] = weight
    return weights


def ranking_losses(scores: torch.Tensor, config: RetrievalLossConfig,
                   use_hard_negative: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """HERO's two video-level ranking losses over in-batch negatives (§2.6).

    Args:
        scores: (Q, V) query-to-video scores; query i belongs to video ``i // (Q / V)``.
        config: margin, loss type, all-vs-sampled negatives, hard-negative pool and weight.
        use_hard_negative: whether the hard-negative weighting (or pool sampling) is active.

    Returns:
        ``(loss_neg_ctx, loss_neg_q)``: (positive query, negative video) and (negative query,
        positive video) losses, each a mean over queries of a mean over negatives.
    """
    num_queries, num_videos = scores.shape
    zero = scores.new_zeros(())
    if num_videos == 1:
        return zero, zero
    per_video = num_queries // num_videos
    query_video = torch.arange(num_queries, device=scores.device) // per_video  # (Q,)
    positive = scores[torch.arange(num_queries, device=scores.device), query_video]  # (Q,)
    is_positive = query_video[:, None] == torch.arange(num_videos, device=scores.device)[None]
    # Negatives sorted by descending score (positives removed), as the hard-negative rule needs.
    ctx_negatives = scores.masked_fill(is_positive, float("inf")).sort(dim=1, descending=True).values[:, 1:]
    q_negatives = scores.t().masked_fill(is_positive.t(), float("inf")).sort(
        dim=1, descending=True).values[:, per_video:]  # (V, Q − k)
    q_negatives = q_negatives[query_video]  # (Q, Q − k): the other videos' queries on my video
    pool = config.hard_pool_size
    if not config.use_all_neg:
        ctx_negatives = _sample_one(ctx_negatives, pool if use_hard_negative else None)
        q_negatives = _sample_one(q_negatives, pool if use_hard_negative else None)
    ctx = _pair_loss(ctx_negatives, positive[:, None], config.ranking_loss_type, config.margin)
    neg_q = _pair_loss(q_negatives, positive[:, None], config.ranking_loss_type, config.margin)
    if use_hard_negative and config.use_all_neg:
        ctx = ctx * _hard_weights(ctx.shape[1], pool, config.hard_neg_weight, ctx)
        neg_q = neg_q * _hard_weights(neg_q.shape[1], pool, config.hard_neg_weight, neg_q)
    return ctx.mean(), neg_q.mean()


def _sample_one(sorted_negatives: torch.Tensor, pool: int | None) -> torch.Tensor:
    """One negative per row, uniformly from all (or from the ``pool`` hardest), (R, 1)."""
    upper = sorted_negatives.shape[1] if pool is None else min(pool, sorted_negatives.shape[1])
    index = torch.randint(0, upper, (len(sorted_negatives), 1), device=sorted_negatives.device)
    return sorted_negatives.gather(1, index)


def span_loss(st_logits: torch.Tensor, ed_logits: torch.Tensor,
              targets: torch.Tensor) -> torch.Tensor:
    """CE(start) + CE(end), ignoring targets of −1; 0 if no query has a target."""
    if not bool((targets >= 0).any()):
        return st_logits.new_zeros(())
    return (F.cross_entropy(st_logits.float(), targets[:, 0], ignore_index=-1)
            + F.cross_entropy(ed_logits.float(), targets[:, 1], ignore_index=-1))


class MomentRetrievalHead(nn.Module):
    """Query encoder + span predictor (the retrieval parameters of the reference's HeroForVcmr)."""

    def __init__(self, config: HeroModelConfig, span_zero_padding: bool = True) -> None:
        super().__init__()
        self.query_encoder = QueryEncoder(config.q_config)
        self.span = SpanPredictor(config.hidden_size, zero_padding=span_zero_padding)

    def encode_queries(self, token_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(Q, T, D) text-only Cross-modal states → (Q, D) query vectors."""
        return self.query_encoder(token_states, mask)

    def score(self, queries: torch.Tensor, frames: torch.Tensor,
              frame_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inference scores: video-level (Q, V) and cross start/end logits (Q, V, L)."""
        st, ed = self.span.cross(queries, frames, frame_mask)
        return video_level_scores(queries, frames, frame_mask), st, ed
