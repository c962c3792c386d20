"""Span decoding, top-k unravelling and temporal NMS: hand-built cases; batched decoding vs its per-query spec."""
import numpy as np
import pytest
import torch

from evaluation.moment_decoding import (
    SpanCandidates,
    batched_nms_keep,
    candidate_rows,
    span_band,
    split_rows,
    temporal_iou,
    temporal_nms,
    to_rows,
    top_spans,
    top_videos,
)


def test_span_band_is_the_length_window():
    band = span_band(5, 1, 3)
    legal = {(m, n) for m in range(5) for n in range(5) if band[m, n]}
    assert legal == {(m, n) for m in range(5) for n in range(5) if 1 <= n - m < 3}


def test_top_spans_picks_the_best_legal_cells_and_unravels_with_actual_length():
    st = torch.zeros(1, 2, 4)
    ed = torch.zeros(1, 2, 4)
    st[0, 1, 1], ed[0, 1, 3] = 0.9, 0.8    # video 1: span (1, 3) = 0.72
    st[0, 0, 0], ed[0, 0, 0] = 1.0, 1.0    # video 0: (0, 0) is too short for min_pred_l=1
    ed[0, 0, 2] = 0.5                      # video 0: (0, 2) = 0.5
    cand = top_spans(st, ed, torch.tensor([[4, 4]]), k=2, min_pred_l=1, max_pred_l=3)
    assert cand.video.tolist() == [[1, 0]] and cand.start.tolist() == [[1, 0]] and cand.end.tolist() == [[3, 2]]
    assert torch.allclose(cand.scores, torch.tensor([[0.72, 0.5]]))


def test_top_spans_weights_videos_and_stays_inside_each_clip():
    st = torch.full((1, 2, 6), 1 / 6)
    ed = torch.full((1, 2, 6), 1 / 6)
    ed[0, 0, 5] = 0.9  # beyond video 0's 3 valid frames: must never be chosen
    cand = top_spans(st, ed, torch.tensor([[3, 6]]), k=50, min_pred_l=0, max_pred_l=6,
                     video_weight=torch.tensor([[10.0, 1.0]]))
    finite = torch.isfinite(cand.scores[0])
    videos, ends = cand.video[0][finite], cand.end[0][finite]
    assert (ends[videos == 0] < 3).all()
    assert cand.video[0, 0] == 0  # the weight of video 0 dominates
    assert int(finite.sum()) == 6 + 21  # legal cells: 3·4/2 in video 0, 6·7/2 in video 1


def test_rows_are_seconds_with_inclusive_end_frame():
    st, ed = torch.zeros(1, 1, 5), torch.zeros(1, 1, 5)
    st[0, 0, 2], ed[0, 0, 3] = 1.0, 1.0
    cand = top_spans(st, ed, torch.tensor([[5]]), k=1, min_pred_l=1, max_pred_l=4)
    rows = to_rows(cand, 0, np.array([[42]]), frame_interval=1.5)
    assert rows.tolist() == [[42.0, 3.0, 6.0, 1.0]]


def test_temporal_iou_uses_hull_as_union():
    iou = temporal_iou(np.array([[0.0, 4.0], [5.0, 6.0]]), np.array([[2.0, 6.0]]))
    assert np.allclose(iou[:, 0], [2 / 6, 1 / 4])


def test_nms_drops_overlaps_within_a_video_only():
    rows = np.array([[0, 0.0, 10.0, 0.9],
                     [0, 1.0, 10.0, 0.8],   # IoU 0.9 with the first: dropped
                     [1, 0.0, 10.0, 0.7],   # same span, other video: kept
                     [0, 20.0, 30.0, 0.6],
                     [0, 0.0, 20.0, 0.5]])  # IoU 0.5 with the first: kept at thd 0.5
    kept = temporal_nms(rows, 0.5, keep=10)
    assert kept[:, 3].tolist() == [0.9, 0.7, 0.6, 0.5]
    assert temporal_nms(rows, 0.5, keep=2)[:, 3].tolist() == [0.9, 0.7]
    assert len(temporal_nms(rows, -1, keep=3)) == 3  # off: plain truncation


def test_top_videos_exponentiates_and_orders():
    scores, index = top_videos(torch.tensor([[0.1, 0.5, -0.2]]), alpha=20.0, k=2)
    assert index.tolist() == [[1, 0]]
    assert np.allclose(scores.numpy(), np.exp([[10.0, 2.0]]))


def gathered_top_spans(st_prob, ed_prob, lengths, k, min_pred_l, max_pred_l, video_weight=None) -> SpanCandidates:
    """The spec of :func:`top_spans` (its first version): the band of ends gathered with an index tensor,
    weighted, masked out of place; the same (Q, V, L, W) cells, hence the same top-k."""
    q, v, length = st_prob.shape
    widths = torch.arange(min_pred_l, max_pred_l)
    starts = torch.arange(length)
    ends = starts[:, None] + widths[None, :]
    padded_ed = torch.nn.functional.pad(ed_prob, (0, int(widths.max()) + 1 if len(widths) else 0))
    scores = st_prob[..., :, None] * padded_ed[..., ends]
    if video_weight is not None:
        scores = scores * video_weight[..., None, None]
    legal = ends[None, None] < lengths[..., None, None]
    scores = scores.masked_fill(~legal, float("-inf")).reshape(q, -1)
    top = torch.topk(scores, min(k, scores.shape[1]), dim=1)
    cell, num_widths = top.indices, len(widths)
    start = (cell // num_widths) % length
    return SpanCandidates(top.values, cell // (length * num_widths), start, start + widths[cell % num_widths])


def tied_probs(gen: torch.Generator, shape: tuple[int, ...], levels: int) -> torch.Tensor:
    """Probabilities with many exact ties (few distinct values) and exact zeros."""
    return torch.randint(0, levels, shape, generator=gen).float() / levels


@pytest.mark.parametrize("min_pred_l,max_pred_l", [(0, 1), (1, 4), (2, 16), (3, 3), (9, 12)])
def test_top_spans_equals_the_gathered_band(min_pred_l, max_pred_l):
    gen = torch.Generator().manual_seed(min_pred_l * 100 + max_pred_l)
    for weighted in (False, True):
        st, ed = tied_probs(gen, (5, 4, 11), 4), tied_probs(gen, (5, 4, 11), 4)
        lengths = torch.randint(1, 12, (5, 4), generator=gen)
        lengths[0] = 1  # one query whose videos have no legal span
        weight = tied_probs(gen, (5, 4), 3) + 1 if weighted else None
        for k in (1, 7, 10_000):
            got = top_spans(st, ed, lengths, k, min_pred_l, max_pred_l, video_weight=weight)
            want = gathered_top_spans(st, ed, lengths, k, min_pred_l, max_pred_l, video_weight=weight)
            for name in ("scores", "video", "start", "end"):
                assert torch.equal(getattr(got, name), getattr(want, name)), (name, k, weighted)


@pytest.mark.parametrize("iou_threshold", [-1.0, 0.0, 0.3, 0.5, 1.0])
def test_batched_decoding_equals_the_per_query_rows_and_nms(iou_threshold):
    """candidate_rows + batched_nms_keep + split_rows == to_rows + temporal_nms of each query, exactly,
    with tied scores, clips of 1–2 frames (no legal span: −inf rows), spans sharing bounds (IoU exactly
    0.5 / 0 / 1) and both forms of ``video_ids``."""
    gen = torch.Generator().manual_seed(int(iou_threshold * 10) + 3)
    q, v, length = 6, 5, 9
    st, ed = tied_probs(gen, (q, v, length), 3), tied_probs(gen, (q, v, length), 3)
    lengths = torch.randint(1, length + 1, (q, v), generator=gen)
    lengths[1] = 1
    lengths[2] = torch.tensor([1, 2, 1, 2, 1])
    for per_query_ids in (True, False):
        ids = np.arange(100, 100 + q * v).reshape(q, v) if per_query_ids else np.arange(7, 7 + v)
        cand = top_spans(st, ed, lengths, 60, 1, 5, video_weight=tied_probs(gen, (q, v), 2) + 1)
        rows = candidate_rows(cand, ids, frame_interval=1.5)
        for keep in (1, 4, 1000):
            batched = split_rows(rows, batched_nms_keep(rows, iou_threshold, keep))
            assert len(batched) == q
            for i in range(q):
                want = temporal_nms(to_rows(cand, i, ids, 1.5), iou_threshold, keep)
                assert batched[i].dtype == want.dtype and np.array_equal(batched[i], want), (i, keep)
    assert len(batched[1]) == 0  # every span of query 1 is illegal


def test_batched_nms_ties_and_bounds_by_hand():
    rows = np.array([[[0, 0.0, 10.0, 0.9],
                      [0, 0.0, 20.0, 0.9],    # IoU exactly 0.5 with row 0: kept at 0.5, dropped at 0.4
                      [1, 0.0, 10.0, 0.8],    # other video
                      [0, 10.0, 20.0, 0.7],   # IoU 0 with row 0, 0.5 with row 1
                      [0, 0.0, 10.0, -np.inf]]])
    assert batched_nms_keep(rows, 0.5, 10).tolist() == [[True, True, True, True, False]]
    assert batched_nms_keep(rows, 0.4, 10).tolist() == [[True, False, True, True, False]]
    assert batched_nms_keep(rows, 0.5, 2).tolist() == [[True, True, False, False, False]]
