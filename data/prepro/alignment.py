"""Subtitle ↔ frame alignment (hero-reference.md §3.5).

Frame ``r`` covers ``[r·fl, (r+1)·fl)`` seconds (``fl`` = frame interval, 1.5 s for TV/How2).

1. A subtitle ``[start, end]`` covers frames ``floor(start/fl) … ceil(end/fl) − 1``.
   Subtitles starting at or after the video end (``num_frames·fl``) are dropped.
   The *last* subtitle of the video, if it lasts more than 16 s (its end clipped to the video end), is cut
   to its first 11 frames: the last line of a TV clip often carries a bogus end time.
2. Each frame covered by ≥ 1 subtitle is owned by the single covering subtitle with the highest temporal
   IoU between ``[r, r+1]`` and ``[start/fl, end/fl]`` (frame units, uncut times); ties go to the earlier
   subtitle. Frames covered by no subtitle are owned by ``-1``.

Deviations from the reference, on purpose:
- frame indices ≥ ``num_frames`` are removed from ``sub2frames`` (the reference kept them, which later
  misaligned frames and subtitles, §8.4) and negative starts are clipped to frame 0;
- when every covering subtitle has IoU 0 (zero-length subtitles), the frame goes to the first covering
  subtitle (the reference gave it to subtitle 0 even when subtitle 0 did not cover it);
- times are float64 (the reference used float32).

Input must be sorted by start time; :func:`sort_subtitles` sorts stably (the preprocessing script calls it,
so unsorted subtitle files are accepted and stored sorted).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LONG_LAST_SUB_SECONDS = 16.0
LONG_LAST_SUB_FRAMES = 11


@dataclass(frozen=True)
class Alignment:
    """Result of :func:`align_subtitles` for one video.

    Attributes:
        kept: indices (into the input list) of the subtitles kept, ascending.
        sub2frames: per kept subtitle, every frame index it covers (may be empty).
        frame_owner: ``(num_frames,)`` int32, index into ``kept`` of the owning subtitle, or -1.
        num_cut: 1 if the long last subtitle was cut, else 0.
    """

    kept: list[int]
    sub2frames: list[list[int]]
    frame_owner: np.ndarray
    num_cut: int

    @property
    def num_frames(self) -> int:
        """Number of frames of the video."""
        return int(self.frame_owner.shape[0])


def sort_subtitles(subs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Subtitles sorted by start time; stable, so equal starts keep their file order."""
    return sorted(subs, key=lambda s: float(s["start"]))


def align_subtitles(
    starts: Sequence[float] | np.ndarray,
    ends: Sequence[float] | np.ndarray,
    num_frames: int,
    frame_interval: float = 1.5,
    *,
    long_last_seconds: float = LONG_LAST_SUB_SECONDS,
    long_last_frames: int = LONG_LAST_SUB_FRAMES,
) -> Alignment:
    """Assign subtitles to frames with HERO's rule (see module docstring).

    Args:
        starts: subtitle start times in seconds, non-decreasing.
        ends: subtitle end times in seconds, ``end >= start``.
        num_frames: frames in the video (≥ 1).
        frame_interval: seconds per frame.
        long_last_seconds: the last subtitle is cut when it lasts more than this.
        long_last_frames: how many frames a cut last subtitle keeps.

    Raises:
        ValueError: unsorted starts, ``end < start``, non-finite times, ``num_frames < 1`` or
            ``frame_interval <= 0``.
    """
    st = np.asarray(starts, dtype=np.float64).reshape(-1)
    ed = np.asarray(ends, dtype=np.float64).reshape(-1)
    _check_inputs(st, ed, num_frames, frame_interval)
    fl = float(frame_interval)
    video_end = num_frames * fl

    # frame range [first, stop) covered by each subtitle, before any clipping
    first = np.floor(st / fl).astype(np.int64)
    stop = np.ceil(ed / fl).astype(np.int64)
    keep = st < video_end
    num_cut = 0
    if len(st) and keep[-1] and (min(ed[-1], video_end) - st[-1]) > long_last_seconds:
        stop[-1] = min(stop[-1], first[-1] + long_last_frames)
        num_cut = 1
    first = np.clip(first, 0, num_frames)
    stop = np.maximum(np.clip(stop, 0, num_frames), first)

    kept = np.flatnonzero(keep)
    first_k, stop_k = first[kept], stop[kept]
    frames = np.arange(num_frames)
    cover = (frames[None, :] >= first_k[:, None]) & (frames[None, :] < stop_k[:, None])  # (S, F)

    # IoU of frame [r, r+1] with subtitle [st/fl, ed/fl], in frame units, for every (subtitle, frame)
    s_f = (st[kept] / fl)[:, None]
    e_f = (ed[kept] / fl)[:, None]
    inter = np.clip(np.minimum(frames + 1, e_f) - np.maximum(frames, s_f), 0.0, None)  # (S, F)
    union = np.maximum(frames + 1, e_f) - np.minimum(frames, s_f)  # ≥ 1: a frame is 1 unit long
    iou = np.where(cover, inter / union, -1.0)  # uncovered pairs can never win

    frame_owner = np.full(num_frames, -1, dtype=np.int32)
    if len(kept):
        best = np.argmax(iou, axis=0)  # argmax returns the first maximum: earlier subtitle wins ties
        covered = cover.any(axis=0)
        frame_owner[covered] = best[covered]

    sub2frames = [list(range(a, b)) for a, b in zip(first_k.tolist(), stop_k.tolist())]
    return Alignment(kept=kept.tolist(), sub2frames=sub2frames, frame_owner=frame_owner, num_cut=num_cut)


def _check_inputs(st: np.ndarray, ed: np.ndarray, num_frames: int, frame_interval: float) -> None:
    if st.shape != ed.shape:
        raise ValueError(f"{len(st)} start times but {len(ed)} end times")
    if not (isinstance(num_frames, (int, np.integer)) and num_frames >= 1):
        raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
    if not (math.isfinite(frame_interval) and frame_interval > 0):
        raise ValueError(f"frame_interval must be > 0, got {frame_interval!r}")
    if not (np.isfinite(st).all() and np.isfinite(ed).all()):
        raise ValueError("subtitle times must be finite numbers")
    bad = np.flatnonzero(ed < st)
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"subtitle {i} ends before it starts ({st[i]} > {ed[i]})")
    unsorted = np.flatnonzero(np.diff(st) < 0)
    if len(unsorted):
        i = int(unsorted[0]) + 1
        raise ValueError(
            f"subtitles are not sorted by start time (subtitle {i} starts at {st[i]} < {st[i - 1]}); "
            "sort them with sort_subtitles()"
        )


def frames_of_owner(frame_owner: np.ndarray, num_subs: int) -> list[list[int]]:
    """Invert ``frame_owner``: per subtitle, the frames it owns (HERO's ``unique_sub2frames``)."""
    owned: list[list[int]] = [[] for _ in range(num_subs)]
    for frame, owner in enumerate(np.asarray(frame_owner).tolist()):
        if owner >= 0:
            owned[owner].append(frame)
    return owned
