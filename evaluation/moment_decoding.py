"""Moment decoding for video corpus moment retrieval (hero-reference.md §4.2 steps 3–8).

Pure tensor / numpy functions: span probabilities → ranked (video, start, end, score) predictions.
Everything keeps only a top-k per query (``torch.topk``, never a full sort of the N·L·L cells, §8.20),
so the memory of a scoring chunk is bounded by its query count, not by the corpus' query total.

Frame indices are inclusive: a span (m, n) covers frames m..n, i.e. seconds [m·fl, (n+1)·fl).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class SpanCandidates:
    """Top spans per query: each tensor is (Q, K); ``video`` indexes the caller's candidate list."""

    scores: torch.Tensor
    video: torch.Tensor
    start: torch.Tensor
    end: torch.Tensor


def span_band(length: int, min_pred_l: int, max_pred_l: int, device: torch.device | None = None) -> torch.Tensor:
    """(L, L) bool: cell (m, n) is a legal span iff ``min_pred_l ≤ n − m < max_pred_l``."""
    idx = torch.arange(length, device=device)
    width = idx[None, :] - idx[:, None]
    return (width >= min_pred_l) & (width < max_pred_l)


def top_spans(st_prob: torch.Tensor, ed_prob: torch.Tensor, lengths: torch.Tensor, k: int,
              min_pred_l: int, max_pred_l: int, video_weight: torch.Tensor | None = None) -> SpanCandidates:
    """The ``k`` best spans of each query over its candidate videos.

    Args:
        st_prob, ed_prob: (Q, V, L) start / end probabilities (softmax over L).
        lengths: (Q, V) valid frames of each candidate video; spans must lie inside them (the
            reference also ranked spans over padded frames, with ~0 probability).
        k: spans kept per query (``max_before_nms``).
        min_pred_l, max_pred_l: the span-length band.
        video_weight: (Q, V) multiplier of every span of a video (VCMR: ``exp(α·s(q, v))``).

    Returns:
        :class:`SpanCandidates` (Q, K'), K' = min(k, V·L·L); cells that are not legal spans get
        score −inf and sort last (callers drop them with :func:`finite_rows`).
    """
    q, v, length = st_prob.shape
    # Only the band of legal widths is scored: (Q, V, L, W) cells instead of (Q, V, L, L).
    widths = torch.arange(min_pred_l, max_pred_l, device=st_prob.device)  # (W,)
    starts = torch.arange(length, device=st_prob.device)
    ends = starts[:, None] + widths[None, :]  # (L, W)
    # ed of the ends (m + w for every width w) as sliding windows of the zero-padded ed: a view, no gather
    padded_ed = torch.nn.functional.pad(ed_prob, (0, max_pred_l))
    ed_windows = padded_ed[..., min_pred_l:].unfold(-1, len(widths), 1)[..., :length, :]  # (Q, V, L, W)
    scores = st_prob[..., :, None] * ed_windows  # (Q, V, L, W)
    if video_weight is not None:
        scores.mul_(video_weight[..., None, None])
    legal = ends[None, None] < lengths[..., None, None]  # the end (hence the start) inside the clip
    scores = scores.masked_fill_(~legal, float("-inf")).reshape(q, -1)
    top = torch.topk(scores, min(k, scores.shape[1]), dim=1)
    # unravel with the ACTUAL L of the score tensor (the reference used max_clip_len, §8.3)
    cell, num_widths = top.indices, len(widths)
    start = (cell // num_widths) % length
    return SpanCandidates(scores=top.values, video=cell // (length * num_widths), start=start,
                          end=start + widths[cell % num_widths])


def temporal_iou(spans: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 2) and (M, 2) [start, end] spans: intersection / (max end − min start)."""
    inter = np.clip(np.minimum(spans[:, None, 1], other[None, :, 1])
                    - np.maximum(spans[:, None, 0], other[None, :, 0]), 0, None)
    union = np.maximum(spans[:, None, 1], other[None, :, 1]) - np.minimum(spans[:, None, 0], other[None, :, 0])
    return np.divide(inter, union, out=np.zeros_like(inter, dtype=np.float64), where=union > 0)


def temporal_nms(predictions: np.ndarray, iou_threshold: float, keep: int) -> np.ndarray:
    """Greedy temporal NMS over rows ``[video, start, end, score]`` sorted best first.

    A row is dropped when its IoU with an already kept row **of the same video** exceeds
    ``iou_threshold``. Rows of different videos never suppress each other, which equals the
    reference's VCMR procedure (NMS per video, merge, sort by score) and, for SVMR's single video,
    plain NMS. ``iou_threshold < 0`` disables NMS. Returns at most ``keep`` rows, best first.
    """
    if iou_threshold < 0 or len(predictions) == 0:
        return predictions[:keep]
    iou = temporal_iou(predictions[:, 1:3], predictions[:, 1:3])
    iou[predictions[:, None, 0] != predictions[None, :, 0]] = 0.0
    suppressed = np.zeros(len(predictions), dtype=bool)
    kept: list[int] = []
    for i in range(len(predictions)):
        if suppressed[i]:
            continue
        kept.append(i)
        if len(kept) == keep:
            break
        suppressed |= iou[i] > iou_threshold
    return predictions[kept]


def finite_rows(rows: np.ndarray) -> np.ndarray:
    """Drop predictions whose score is not finite (illegal cells picked when too few legal ones)."""
    return rows[np.isfinite(rows[:, 3])]


def to_rows(candidates: SpanCandidates, query: int, video_ids: np.ndarray, frame_interval: float) -> np.ndarray:
    """One query's candidates as float64 rows ``[official video idx, st_s, ed_s, score]``.

    ``video_ids`` maps the candidate video index of the query to its official index, (V,) or (Q, V).
    """
    local = candidates.video[query].cpu().numpy()
    videos = video_ids[query][local] if video_ids.ndim == 2 else video_ids[local]
    start = candidates.start[query].cpu().numpy() * frame_interval
    end = (candidates.end[query].cpu().numpy() + 1) * frame_interval
    rows = np.stack([videos.astype(np.float64), start, end,
                     candidates.scores[query].double().cpu().numpy()], axis=1)
    return finite_rows(rows)


def candidate_rows(candidates: SpanCandidates, video_ids: np.ndarray, frame_interval: float) -> np.ndarray:
    """Every query's candidates at once as float64 rows (Q, K, 4) ``[official video idx, st_s, ed_s, score]``
    (:func:`to_rows` of each query, not yet without the non-finite ones).

    ``video_ids`` maps the candidate video index of a query to its official index, (V,) or (Q, V).
    """
    local = candidates.video.cpu().numpy()
    videos = np.take_along_axis(video_ids, local, 1) if video_ids.ndim == 2 else video_ids[local]
    start = candidates.start.cpu().numpy() * frame_interval
    end = (candidates.end.cpu().numpy() + 1) * frame_interval
    return np.stack([videos.astype(np.float64), start, end, candidates.scores.double().cpu().numpy()], axis=2)


def batched_nms_keep(rows: np.ndarray, iou_threshold: float, keep: int) -> np.ndarray:
    """(Q, K) bool: which of each query's rows (Q, K, 4), sorted best first, :func:`temporal_nms` keeps
    after :func:`finite_rows` — the same greedy rule for all queries at once.

    One pass over the K places for the whole batch: the row at a place is kept iff no kept better row of
    its query suppresses it; a kept row suppresses the later rows of its query and video whose IoU with it
    (:func:`temporal_iou`'s float64 operations, so every comparison is the same) exceeds the threshold.
    Then each query keeps its first ``keep`` kept rows.
    """
    kept = np.isfinite(rows[..., 3])
    if iou_threshold >= 0:
        video, start, end = rows[..., 0], rows[..., 1], rows[..., 2]
        suppressed = np.zeros_like(kept)
        for place in range(rows.shape[1]):
            kept[:, place] &= ~suppressed[:, place]
            later = slice(place + 1, None)
            if not kept[:, place].any() or place + 1 == rows.shape[1]:
                continue
            here = (slice(None), slice(place, place + 1))
            inter = np.clip(np.minimum(end[here], end[:, later]) - np.maximum(start[here], start[:, later]), 0, None)
            union = np.maximum(end[here], end[:, later]) - np.minimum(start[here], start[:, later])
            iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
            suppressed[:, later] |= kept[here] & (iou > iou_threshold) & (video[:, later] == video[here])
    return kept & (np.cumsum(kept, axis=1) <= keep)


def split_rows(rows: np.ndarray, kept: np.ndarray) -> list[np.ndarray]:
    """Each query's kept rows, best first: rows (Q, K, C), kept (Q, K) → Q arrays (n_q, C)."""
    return np.split(rows[kept], np.cumsum(kept.sum(1))[:-1])


def top_videos(q2video: torch.Tensor, alpha: float, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """VR: ``exp(α·s)`` of the ``k`` best videos per query, (Q, K) scores and indices, best first."""
    top = torch.topk(q2video, min(k, q2video.shape[1]), dim=1)
    return torch.exp(alpha * top.values.double()), top.indices
