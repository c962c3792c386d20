"""Span decoding, top-k unravelling and temporal NMS on hand-built cases."""
import numpy as np
import torch

from evaluation.moment_decoding import span_band, temporal_iou, temporal_nms, to_rows, top_spans, top_videos


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
