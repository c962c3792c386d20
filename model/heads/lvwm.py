"""LVWM: local vision-word matching (SNP-S3, lfvila-snps3.md §2.3), word bags against frames.

A query (a subtitle held out of the context, or a retrieval query) is represented by a few significant words
w_k (contextual states of its text-only pass) and scored against each frame f of the video-only pass:
s(q, f) = log Σ_k exp(⟨w_k, f̂⟩ / τ), with f̂ = f / ‖f‖. The loss is MIL-NCE (Miech et al. 2020): the frames
of the query's moment are its positive bag; negatives are (q, frames of other videos) and (queries of other
videos, frames of the bag). Frames of the query's own video outside its moment are neither: neighbouring
moments often show the same scene, so calling them negatives would punish correct matches.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

_MASKED = -1e30  # scores are fp32 here


def word_frame_scores(words: torch.Tensor, frames: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """s(q, f) = logsumexp_k ⟨w_qk, f/‖f‖⟩ / τ: words (Q, K, D), frames (F, D) → (Q, F)."""
    frames = F.normalize(frames.float(), dim=-1, eps=1e-5)
    dots = torch.einsum("qkd,fd->qkf", words.float(), frames) / temperature  # (Q, K, F)
    return torch.logsumexp(dots, dim=1)


def _masked_logsumexp(values: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    # A finite fill: an all-masked slice gives a huge negative number instead of −inf, whose backward
    # (exp(−inf − (−inf))) would be NaN even where its gradient is zero.
    return torch.logsumexp(values.masked_fill(~mask, _MASKED), dim=dim)


def lvwm_bag_losses(scores: torch.Tensor, positive: torch.Tensor, query_video: torch.Tensor,
                    frame_video: torch.Tensor, frame_valid: torch.Tensor) -> torch.Tensor:
    """MIL-NCE per query over the word-bag scores.

    Args:
        scores: (Q, F) s(q, f).
        positive: (Q, F) bool, the frames of each query's moment (a subset of its video's valid frames).
        query_video, frame_video: (Q,), (F,) video index of each query / frame.
        frame_valid: (F,) bool, real (not padding) frames.

    Returns:
        (Q,) −log( Σ_pos e^s / (Σ_pos e^s + Σ_{(q, f'), f' of other videos} e^s + Σ_{(q', f), f ∈ bag, q' of
        other videos} e^s) ). A query with an empty bag gets 0.
    """
    other_video = query_video[:, None] != frame_video[None]  # (Q, F)
    row_negative = other_video & frame_valid[None]
    # Per frame: logsumexp over the queries of the other videos (column direction), (F,)
    column = _masked_logsumexp(scores, other_video, dim=0)
    candidates = torch.cat([scores, column[None].expand_as(scores)], dim=1)  # (Q, 2F)
    in_denominator = torch.cat([positive | row_negative, positive], dim=1)
    numerator = _masked_logsumexp(scores, positive, dim=1)
    losses = _masked_logsumexp(candidates, in_denominator, dim=1) - numerator
    return torch.where(positive.any(1), losses, torch.zeros_like(losses))
