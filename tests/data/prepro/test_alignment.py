"""Subtitle ↔ frame alignment on hand-built cases and against a plain-loop statement of the rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from data.prepro.alignment import align_subtitles, frames_of_owner, sort_subtitles

FL = 1.5


def align(spans, num_frames, fl=FL):
    return align_subtitles([s for s, _ in spans], [e for _, e in spans], num_frames, fl)


def test_basic_cover_ownership_and_uncovered_frame():
    # sub0 [0, 2.0] → frames 0,1 ; sub1 [2.5, 4.0] → frames 1,2 ; frame 3 has no subtitle
    ali = align([(0.0, 2.0), (2.5, 4.0)], num_frames=4)
    assert ali.sub2frames == [[0, 1], [1, 2]]
    # frame 1 = [1, 2] in frame units: IoU(sub0=[0, 1.33]) = 1/6 < IoU(sub1=[1.67, 2.67]) = 1/5
    assert ali.frame_owner.tolist() == [0, 1, 1, -1]
    assert ali.frame_owner.dtype == np.int32 and ali.num_frames == 4 and ali.kept == [0, 1]


def test_iou_tie_goes_to_the_earlier_subtitle():
    # frame 1 = [1, 2]: sub0 = [0.5, 1.5] and sub1 = [1.5, 2.5] both have IoU exactly 1/3
    ali = align([(0.75, 2.25), (2.25, 3.75)], num_frames=3)
    assert ali.sub2frames == [[0, 1], [1, 2]]
    assert ali.frame_owner.tolist() == [0, 0, 1]
    # same subtitles swapped in time order → the earlier one still wins the shared frame
    ali = align([(0.75, 2.25), (0.75, 2.25)], num_frames=2)
    assert ali.frame_owner.tolist() == [0, 0]


def test_subtitle_with_no_frame_is_kept():
    # zero-length subtitle on a frame boundary covers floor(2)..ceil(2)-1 = nothing
    ali = align([(0.0, 3.0), (3.0, 3.0), (3.1, 4.4)], num_frames=3)
    assert ali.kept == [0, 1, 2]
    assert ali.sub2frames == [[0, 1], [], [2]]
    assert ali.frame_owner.tolist() == [0, 0, 2]
    assert frames_of_owner(ali.frame_owner, 3) == [[0, 1], [], [2]]


def test_overshadowed_subtitle_owns_nothing_but_keeps_its_frames():
    ali = align([(0.0, 4.5), (1.6, 2.0)], num_frames=3)
    assert ali.sub2frames == [[0, 1, 2], [1]]
    assert ali.frame_owner.tolist() == [0, 0, 0]


def test_subtitles_after_the_video_end_are_dropped():
    # video = 3 frames = 4.5 s; a subtitle starting at 4.5 s (or later) touches no frame
    ali = align([(0.0, 1.0), (4.5, 5.0), (6.0, 7.0)], num_frames=3)
    assert ali.kept == [0]
    assert ali.sub2frames == [[0]]
    assert ali.frame_owner.tolist() == [0, -1, -1]


def test_frames_past_the_end_are_clipped_from_sub2frames():
    ali = align([(3.5, 9.0)], num_frames=4)  # covers frames 2..5, the video has 0..3
    assert ali.sub2frames == [[2, 3]]
    assert ali.frame_owner.tolist() == [-1, -1, 0, 0]


def test_long_last_subtitle_is_cut_to_eleven_frames():
    ali = align([(0.0, 1.0), (3.0, 40.0)], num_frames=30)
    assert ali.num_cut == 1
    assert ali.sub2frames[1] == list(range(2, 13))  # 11 frames from floor(3.0 / 1.5) = 2
    owner = ali.frame_owner.tolist()
    assert owner[2:13] == [1] * 11 and owner[13:] == [-1] * 17


def test_long_subtitle_that_is_not_last_is_not_cut():
    ali = align([(3.0, 40.0), (41.0, 42.0)], num_frames=30)
    assert ali.num_cut == 0 and ali.sub2frames[0] == list(range(2, 27))


def test_last_subtitle_duration_uses_the_end_clipped_to_the_video():
    # lasts 37 s, but only 15 s inside the 18 s video → not "long"
    ali = align([(3.0, 40.0)], num_frames=12)
    assert ali.num_cut == 0 and ali.sub2frames[0] == list(range(2, 12))


def test_unsorted_input_is_reported_and_sort_subtitles_is_stable():
    with pytest.raises(ValueError, match="not sorted by start time.*subtitle 1"):
        align([(3.0, 4.0), (1.0, 2.0)], num_frames=4)
    subs = [{"text": "b", "start": 3.0, "end": 4.0}, {"text": "a1", "start": 1.0, "end": 2.0},
            {"text": "a2", "start": 1.0, "end": 1.5}]
    assert [s["text"] for s in sort_subtitles(subs)] == ["a1", "a2", "b"]


@pytest.mark.parametrize(
    "spans, n, message",
    [([(2.0, 1.0)], 3, "ends before it starts"), ([(0.0, float("nan"))], 3, "finite"), ([(0.0, 1.0)], 0, "num_frames")],
)
def test_bad_times_are_errors(spans, n, message):
    with pytest.raises(ValueError, match=message):
        align(spans, num_frames=n)


def _loop_rule(spans, n, fl):
    """The rule written as plainly as possible, one frame and one subtitle at a time."""
    kept, cover = [], []
    for i, (s, e) in enumerate(spans):
        if s >= n * fl:
            continue
        frames = list(range(math.floor(s / fl), math.ceil(e / fl)))
        if i == len(spans) - 1 and min(e, n * fl) - s > 16:
            frames = frames[:11]
        kept.append(i)
        cover.append([f for f in frames if 0 <= f < n])
    owner = []
    for r in range(n):
        best, best_iou = -1, -1.0
        for k, i in enumerate(kept):
            if r in cover[k]:
                s, e = spans[i][0] / fl, spans[i][1] / fl
                inter = max(0.0, min(r + 1, e) - max(r, s))
                iou = inter / (max(r + 1, e) - min(r, s))
                if iou > best_iou:
                    best, best_iou = k, iou
        owner.append(best)
    return kept, cover, owner


def test_vectorised_alignment_matches_the_loop_rule():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 30))
        k = int(rng.integers(0, 12))
        starts = np.sort(np.round(rng.uniform(-1, n * FL + 3, k), 2))
        ends = starts + np.round(rng.exponential(3.0, k), 2) * (rng.random(k) > 0.1)
        if k and rng.random() < 0.3:
            ends[-1] = starts[-1] + 20.0  # exercise the long-last rule
        spans = list(zip(starts.tolist(), ends.tolist()))
        ali = align(spans, n)
        kept, cover, owner = _loop_rule(spans, n, FL)
        assert ali.kept == kept and ali.sub2frames == cover and ali.frame_owner.tolist() == owner, spans
