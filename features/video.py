"""Decode a video with PyAV into one window per ``frame_interval``: the frames each feature stream needs.

Window ``k`` covers ``[k·fl, (k+1)·fl)`` seconds from the first frame. Per window it yields

- a *still* frame at ``k·fl`` (where ffmpeg's ``fps=1/fl`` filter, which HERO's 2D extractor used, takes
  its frame), once per requested size;
- a *clip* of ``clip_frames`` frames at ``clip_fps`` centred on the window's middle (SlowFast: 32 frames
  at 30 fps, 1.07 s), sampled from the source frame rate by nearest timestamp.

The number of windows is what HERO's extractor stores: ``round(duration / fl)`` (the frame count of
ffmpeg's fps filter; its SlowFast stream has ``ceil`` and the two are cut to the shorter), at least 1.
Frames are resized so the shorter side is the stream's size (bicubic, like ffmpeg's scale filter) and centre
cropped. Decoding streams through the file: memory holds two decoded frames and the pending windows.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".ts")


class VideoError(Exception):
    """A video that cannot be decoded; the message names the file."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class WindowPlan:
    """What to sample per window.

    Args:
        frame_interval: seconds per window (HERO: 1.5).
        still_sizes: square sizes of the still frame, one entry per distinct size needed.
        clip_size: square size of the clip frames; None = no clip.
        clip_frames, clip_fps: clip length in frames and its frame rate.
    """

    frame_interval: float = 1.5
    still_sizes: tuple[int, ...] = ()
    clip_size: int | None = None
    clip_frames: int = 32
    clip_fps: float = 30.0

    @property
    def targets_per_window(self) -> int:
        return 1 + (self.clip_frames if self.clip_size else 0)

    def target_times(self, num_windows: int) -> np.ndarray:
        """``(num_windows, targets_per_window)`` seconds: the still time, then the clip frame times."""
        k = np.arange(num_windows, dtype=np.float64)[:, None]
        still = k * self.frame_interval
        if not self.clip_size:
            return still
        offsets = (np.arange(self.clip_frames) - (self.clip_frames - 1) / 2) / self.clip_fps
        return np.concatenate([still, (k + 0.5) * self.frame_interval + offsets[None, :]], axis=1)


@dataclass
class WindowBatch:
    """Consecutive windows ``start .. start + len - 1`` of a video that has ``total`` windows.

    ``stills[size]`` is uint8 ``(b, size, size, 3)``; ``clip`` is uint8 ``(b, T, size, size, 3)`` or None.
    """

    start: int
    total: int
    stills: dict[int, np.ndarray] = field(default_factory=dict)
    clip: np.ndarray | None = None

    def __len__(self) -> int:
        arrays = list(self.stills.values()) + ([self.clip] if self.clip is not None else [])
        return len(arrays[0]) if arrays else 0


def num_windows(duration: float, frame_interval: float) -> int:
    """Windows of a ``duration``-second video: ``round(duration / frame_interval)`` (halves up), at least 1."""
    return max(1, math.floor(duration / frame_interval + 0.5))


def resized_dims(height: int, width: int, size: int) -> tuple[int, int]:
    """(height, width) with the shorter side scaled to ``size`` (HERO's extractor: truncating the longer)."""
    if height >= width:
        return int(height * size / width), size
    return size, int(width * size / height)


def resize_crop(frame: av.VideoFrame, size: int) -> np.ndarray:
    """RGB uint8 ``(size, size, 3)``: shorter side to ``size`` (bicubic), then the centre square."""
    h, w = resized_dims(frame.height, frame.width, size)
    rgb = frame.reformat(width=w, height=h, format="rgb24", interpolation="BICUBIC").to_ndarray()
    top, left = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(rgb[top:top + size, left:left + size])


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    """Seconds from the video stream's header, else the container's; None when neither says."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def _duration_from_packets(path: Path) -> float | None:
    """Seconds spanned by the video packets (a demux pass without decoding), for files whose headers lack it."""
    first, end = None, None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.pts is None or packet.time_base is None:
                continue
            t = float(packet.pts * packet.time_base)
            first = t if first is None else min(first, t)
            end = max(end or t, t + float((packet.duration or 0) * packet.time_base))
    return None if first is None else end - first


def _reason(error: Exception) -> str:
    """FFmpeg's reason without the file name PyAV appends (the message names the file once)."""
    return getattr(error, "strerror", None) or str(error)


def probe(path: str | Path) -> tuple[float, int]:
    """``(duration seconds, number of video frames or 0 if unknown)``; :class:`VideoError` if unreadable."""
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(path, "no video stream")
            stream = container.streams.video[0]
            duration, frames = _duration(container, stream), int(stream.frames or 0)
        if duration is None:
            duration = _duration_from_packets(path)
    except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise VideoError(path, f"cannot read video ({_reason(e)})") from None
    if not duration or duration <= 0:
        raise VideoError(path, "cannot tell the duration (no timestamps)")
    return duration, frames


def iter_windows(path: str | Path, plan: WindowPlan, batch_size: int) -> Iterator[WindowBatch]:
    """Decode ``path`` once and yield its windows in order, ``batch_size`` at a time.

    Raises :class:`VideoError` (naming the file) if it cannot be opened or decoded or has no frame.
    """
    path = Path(path)
    duration, _ = probe(path)
    total = num_windows(duration, plan.frame_interval)
    times = plan.target_times(total)  # (windows, targets)
    flat = times.ravel()
    order = np.argsort(flat, kind="stable")
    per_window = plan.targets_per_window
    filled = np.zeros(total, dtype=np.int64)
    pending: dict[int, WindowBatch] = {}
    converted: dict[tuple[int, int], np.ndarray] = {}
    next_out = 0

    def window(k: int) -> WindowBatch:
        if k not in pending:
            w = WindowBatch(k, total, {s: np.empty((1, s, s, 3), np.uint8) for s in plan.still_sizes})
            if plan.clip_size:
                w.clip = np.empty((1, plan.clip_frames, plan.clip_size, plan.clip_size, 3), np.uint8)
            pending[k] = w
        return pending[k]

    def pixels(seq: int, frame: av.VideoFrame, size: int) -> np.ndarray:
        key = (seq, size)
        if key not in converted:
            for old in [k for k in converted if k[0] < seq - 1]:  # only the two candidate frames are live
                del converted[old]
            converted[key] = resize_crop(frame, size)
        return converted[key]

    def assign(target: int, seq: int, frame: av.VideoFrame) -> None:
        k, slot = divmod(target, per_window)
        w = window(k)
        if slot == 0:
            for s in plan.still_sizes:
                w.stills[s][0] = pixels(seq, frame, s)
        else:
            w.clip[0, slot - 1] = pixels(seq, frame, plan.clip_size)
        filled[k] += 1

    def ready() -> Iterator[WindowBatch]:
        nonlocal next_out
        while next_out < total:
            stop = next_out
            while stop < total and stop - next_out < batch_size and filled[stop] == per_window:
                stop += 1
            if stop - next_out < batch_size and stop < total:
                return  # wait for a full batch unless the video is done
            if stop == next_out:
                return
            parts = [pending.pop(k) for k in range(next_out, stop)]
            yield WindowBatch(
                next_out, total,
                {s: np.concatenate([p.stills[s] for p in parts]) for s in plan.still_sizes},
                np.concatenate([p.clip for p in parts]) if plan.clip_size else None,
            )
            next_out = stop

    i = 0  # next target (in time order) to resolve
    prev: tuple[int, float, av.VideoFrame] | None = None
    t0: float | None = None
    seq = -1
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = float(stream.average_rate or 30)
            for frame in container.decode(stream):
                seq += 1
                t = frame.time if frame.time is not None else seq / rate
                t0 = t if t0 is None else t0
                t = max(t - t0, prev[1] if prev else 0.0)  # timestamps never go back
                while i < len(order) and flat[order[i]] <= t:
                    target = int(order[i])
                    nearer_prev = prev is not None and flat[target] - prev[1] <= t - flat[target]
                    assign(target, *((prev[0], prev[2]) if nearer_prev else (seq, frame)))
                    i += 1
                prev = (seq, t, frame)
                yield from ready()
    except av.FFmpegError as e:
        raise VideoError(path, f"decoding failed after {seq + 1} frames ({_reason(e)})") from None
    if prev is None:
        raise VideoError(path, "no decodable video frame")
    while i < len(order):  # targets past the last frame take the last frame
        assign(int(order[i]), prev[0], prev[2])
        i += 1
    yield from ready()
