"""Short real video files for the feature tests: PyAV-encoded moving shapes, optionally with audio.

The background brightness codes the frame number (``frame_level``) so a test can tell which source frame
a decoded window frame came from.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

LEVEL_STEP = 8  # brightness step between frames: far above x264's error on a flat background


def frame_level(index: int) -> int:
    """Background brightness of frame ``index`` (frames past 28 wrap)."""
    return 16 + LEVEL_STEP * (index % 29)


def write_video(path: Path, num_frames: int, fps: float, width: int = 64, height: int = 48,
                audio: bool = True, codec: str = "libx264") -> Path:
    """A ``num_frames``-frame video: a white square moving over a background of :func:`frame_level`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = container.add_stream("aac", rate=16000) if audio else None
        side = max(4, min(width, height) // 4)
        for i in range(num_frames):
            img = np.full((height, width, 3), frame_level(i), np.uint8)
            x, y = (3 * i) % (width - side), (2 * i) % (height - side)
            img[y:y + side, x:x + side] = 255
            for packet in video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            samples = int(num_frames / fps * 16000)
            tone = (0.1 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 16000)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = tone[start:start + 1024][None, :]
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                frame.sample_rate, frame.pts = 16000, start
                for packet in sound.encode(frame):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
    return path


def write_corrupt(path: Path) -> Path:
    """A file with a video name and no video inside."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    return path


def fps_filter_count(path: Path, frame_interval: float) -> int:
    """Frames ffmpeg's ``fps=1/frame_interval`` filter gives (HERO's 2D extractor), run through PyAV."""
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        graph = av.filter.Graph()
        src, fps, sink = graph.add_buffer(template=stream), graph.add("fps", f"fps=1/{frame_interval}"), graph.add(
            "buffersink")
        src.link_to(fps)
        fps.link_to(sink)
        graph.configure()

        def drain() -> int:
            n = 0
            while True:
                try:
                    graph.pull()
                    n += 1
                except (av.BlockingIOError, av.EOFError):
                    return n

        for frame in container.decode(stream):
            graph.push(frame)
            count += drain()
        graph.push(None)
        count += drain()
    return count
