"""Extract HERO frame features from a folder of videos straight into a video feature db.

One feature vector per ``--frame-interval`` seconds (1.5), as many as HERO's extractor stores
(``round(duration / 1.5)``), streams concatenated in HERO's order:

- ``resnet152``    ImageNet ResNet-152, one frame per window (2048-d);
- ``slowfast_r50`` SlowFast 8x8 R50, 32 frames at 30 fps around the window centre (2304-d);
- ``clip``         a Hugging Face CLIP vision checkpoint folder, one frame per window (its embedding size).

Weights come only from local files: ``--resnet152 resnet152-394f9c45.pth`` (torchvision layout),
``--slowfast SLOWFAST_8x8_R50.pyth`` (pytorchvideo layout), ``--clip DIR``. ``--random-weights`` uses
randomly initialised ResNet/SlowFast (seed 0) for tests and timing. Example (from the repo root)::

    python scripts/extract_features.py videos/ --output video_db/mine \\
        --resnet152 weights/resnet152-394f9c45.pth --slowfast weights/SLOWFAST_8x8_R50.pyth --fp16

Decoding (PyAV) runs in ``--workers`` processes; encoders run batched on the GPU when there is one (bf16
autocast). Finished videos are kept in ``OUTPUT.partial/`` until the db is written, so an interrupted run
resumes where it stopped; a rerun on a folder with new videos adds them to the existing db. A video that
cannot be decoded stops the script with one line naming it, unless --skip-bad is given.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = str(Path(__file__).resolve().parents[1])  # run as `python scripts/x.py`: make the rooms importable
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, IterableDataset  # noqa: E402
from tqdm import tqdm  # noqa: E402

from data.prepro.annotations import BadInputError, BadInputPolicy  # noqa: E402
from features.resnet import resnet152  # noqa: E402
from features.slowfast import slowfast_r50  # noqa: E402
from features.streams import STREAM_ORDER, clip_stream, resnet_stream, slowfast_stream  # noqa: E402
from features.video import VIDEO_SUFFIXES, VideoError, WindowPlan, iter_windows  # noqa: E402
from features.weights import WeightsError, load_clip_vision, load_strict  # noqa: E402
from scripts.db_flags import add_db_writer_flags  # noqa: E402

WEIGHT_FLAGS = {"resnet152": "resnet152", "slowfast_r50": "slowfast", "clip": "clip"}  # encoder → option
RANDOM_SEED = 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video_dir", type=Path, help=f"folder of videos (searched recursively: {' '.join(VIDEO_SUFFIXES)})")
    p.add_argument("--output", required=True, type=Path, help="video db directory to write (e.g. video_db/NAME)")
    p.add_argument("--encoders", default=None,
                   help="comma list of resnet152, slowfast_r50, clip (default: those given weights; "
                        "resnet152,slowfast_r50 with --random-weights); concatenated in that order")
    p.add_argument("--resnet152", type=Path, help="torchvision ImageNet ResNet-152 state dict (.pth)")
    p.add_argument("--slowfast", type=Path, help="SlowFast 8x8 R50 state dict in pytorchvideo's layout (.pyth/.pt)")
    p.add_argument("--clip", type=Path, help="local Hugging Face CLIP checkpoint folder")
    p.add_argument("--random-weights", "--random_weights", dest="random_weights", action="store_true",
                   help="randomly initialised ResNet/SlowFast (tests, timing); the features mean nothing")
    p.add_argument("--frame-interval", "--frame_interval", dest="frame_interval", type=float, default=1.5,
                   help="seconds per feature vector (default 1.5)")
    p.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=16,
                   help="windows per encoder forward (default 16)")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                   help="decoding processes (0: decode in this process; default min(4, CPUs))")
    p.add_argument("--input-size", "--input_size", dest="input_size", type=int, default=224,
                   help="ResNet/SlowFast input side (default 224, as HERO; smaller only for tests and timing)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    p.add_argument("--fp16", action="store_true", help="store float16 (the reader returns float32)")
    add_db_writer_flags(p, "videos")
    args = p.parse_args(argv)
    if not args.frame_interval > 0:
        p.error("--frame-interval must be > 0")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: CUDA is not available here (use --device cpu or auto)")
    if args.batch_size < 1 or args.workers < 0 or args.input_size < 32:
        p.error("--batch-size must be >= 1, --workers >= 0 and --input-size >= 32")
    given = [e for e in STREAM_ORDER if getattr(args, WEIGHT_FLAGS[e]) is not None]
    if args.encoders is None:
        args.encoders = given or (["resnet152", "slowfast_r50"] if args.random_weights else [])
        if not args.encoders:
            p.error("no weights given: pass --resnet152 PATH and --slowfast PATH (or --clip DIR); "
                    "--random-weights only for tests")
    else:
        args.encoders = [e.strip() for e in args.encoders.split(",") if e.strip()]
    unknown = [e for e in args.encoders if e not in STREAM_ORDER]
    if unknown or not args.encoders:
        p.error(f"--encoders: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(STREAM_ORDER)}")
    args.encoders = [e for e in STREAM_ORDER if e in args.encoders]  # HERO's order whatever the order typed
    unused = [f"--{WEIGHT_FLAGS[e]}" for e in given if e not in args.encoders]
    if unused:
        p.error(f"{', '.join(unused)} given but not in --encoders {','.join(args.encoders)}")
    if "clip" in args.encoders and args.clip is None:
        p.error("clip needs --clip DIR (a local Hugging Face CLIP checkpoint folder)")
    without = [f"--{WEIGHT_FLAGS[e]}" for e in args.encoders if e != "clip" and getattr(args, WEIGHT_FLAGS[e]) is None]
    if without and not args.random_weights:
        p.error(f"no weights for {', '.join(without)}: pass the local weight files (nothing downloads), "
                "or --random-weights for tests")
    if args.random_weights and len(without) < len([e for e in args.encoders if e != "clip"]):
        p.error("--random-weights together with weight files: choose one")
    return args


# --------------------------------------------------------------------------------------------------
# encoders


def build_streams(args: argparse.Namespace) -> list[nn.Module]:
    """The feature streams of the run, in HERO's order, weights loaded (or seeded random)."""
    torch.manual_seed(RANDOM_SEED)  # --random-weights: the same weights in every run, so resuming is consistent
    streams: list[nn.Module] = []
    for name in args.encoders:
        if name == "resnet152":
            net = resnet152()
            if args.resnet152 is not None:
                load_strict(net, args.resnet152, "torchvision ResNet-152")
            streams.append(resnet_stream(net, args.input_size))
        elif name == "slowfast_r50":
            net = slowfast_r50()
            if args.slowfast is not None:
                load_strict(net, args.slowfast, "pytorchvideo SlowFast 8x8 R50")
            streams.append(slowfast_stream(net, args.input_size))
        else:
            encoder, mean, std = load_clip_vision(args.clip)
            streams.append(clip_stream(encoder, mean, std))
    return [s.eval() for s in streams]


def window_plan(streams: list[nn.Module], frame_interval: float) -> WindowPlan:
    """The frames the streams need per window."""
    stills = tuple(sorted({s.size for s in streams if s.kind == "still"}))
    clips = [s for s in streams if s.kind == "clip"]
    if not clips:
        return WindowPlan(frame_interval, stills)
    return WindowPlan(frame_interval, stills, clips[0].size, clips[0].num_frames, clips[0].fps)


def run_settings(args: argparse.Namespace, streams: list[nn.Module]) -> dict[str, Any]:
    """What makes two runs' features interchangeable (checked when resuming or adding to a db)."""
    def weights(name: str) -> str:
        path = getattr(args, WEIGHT_FLAGS[name])
        return str(path.resolve()) if path is not None else f"random (seed {RANDOM_SEED})"

    return {
        "frame_interval": float(args.frame_interval),
        "stored_dtype": "float16" if args.fp16 else "float32",
        "streams": [{"name": s.name, "dim": s.dim, "input_size": s.size, "weights": weights(s.name)} for s in streams],
    }


@torch.inference_mode()
def encode(streams: list[nn.Module], batch: dict[str, Any], device: torch.device) -> np.ndarray:
    """``(windows, sum of dims)`` float32 features of one decoded batch (bf16 autocast on CUDA)."""
    outs = []
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        for s in streams:
            frames = batch["clip"] if s.kind == "clip" else batch["stills"][str(s.size)]
            outs.append(s(frames.to(device, non_blocking=True)).float())
    return torch.cat(outs, dim=1).cpu().numpy()


# --------------------------------------------------------------------------------------------------
# decoding in worker processes


class VideoWindows(IterableDataset):
    """Decoded window batches of many videos; each worker takes the next video nobody has started.

    Yields ``{"vid", "start", "total", "stills": {size: uint8}, "clip": uint8 | None}`` per batch, or
    ``{"vid", "error"}`` once for a video that cannot be decoded (after any batches it already gave).
    """

    def __init__(self, videos: list[tuple[str, Path]], plan: WindowPlan, batch_size: int) -> None:
        self.videos, self.plan, self.batch_size = videos, plan, batch_size
        self.next_video = mp.Value("i", 0)  # shared with the workers: dynamic load balancing

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            with self.next_video.get_lock():
                i = self.next_video.value
                self.next_video.value += 1
            if i >= len(self.videos):
                return
            vid, path = self.videos[i]
            try:
                for w in iter_windows(path, self.plan, self.batch_size):
                    yield {"vid": vid, "start": w.start, "total": w.total,
                           "stills": {str(s): torch.from_numpy(a) for s, a in w.stills.items()},
                           "clip": torch.from_numpy(w.clip) if w.clip is not None else None}
            except VideoError as e:
                yield {"vid": vid, "error": e.problem}


def extract(videos: list[tuple[str, Path]], streams: list[nn.Module], plan: WindowPlan, device: torch.device,
            batch_size: int, workers: int, on_bad: BadInputPolicy,
            progress: tqdm | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(vid, features (windows, dim) float32)`` per finished video, in the order they finish."""
    loader = DataLoader(VideoWindows(videos, plan, batch_size), batch_size=None, num_workers=workers,
                        in_order=False, prefetch_factor=2 if workers else None, pin_memory=device.type == "cuda")
    paths = dict(videos)
    partial: dict[str, dict[int, np.ndarray]] = {}
    for item in loader:
        vid = item["vid"]
        if "error" in item:
            partial.pop(vid, None)
            on_bad(BadInputError(paths[vid], None, item["error"]))
            if progress is not None:
                progress.update(1)
            continue
        chunks = partial.setdefault(vid, {})
        chunks[item["start"]] = encode(streams, item, device)
        if sum(len(c) for c in chunks.values()) == item["total"]:
            del partial[vid]
            if progress is not None:
                progress.update(1)
            yield vid, np.concatenate([chunks[k] for k in sorted(chunks)])


# --------------------------------------------------------------------------------------------------
# videos, finished parts, the db


def list_videos(folder: Path) -> list[tuple[str, Path]]:
    """``(name = file stem, path)`` of every video file under ``folder``, sorted by name."""
    if not folder.is_dir():
        raise BadInputError(folder, None, "video folder not found")
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
            if path.stem in found:
                raise BadInputError(path, None, f"duplicate video name {path.stem!r} (also {found[path.stem]})")
            found[path.stem] = path
    if not found:
        raise BadInputError(folder, None, f"no video files ({' '.join(VIDEO_SUFFIXES)})")
    return sorted(found.items())


class FinishedParts:
    """``OUTPUT.partial/``: one ``<vid>.npy`` per finished video (written atomically) and ``settings.json``."""

    def __init__(self, output: Path, settings: dict[str, Any]) -> None:
        self.path = output.with_name(output.name + ".partial")
        self.settings = settings
        settings_file = self.path / "settings.json"
        if settings_file.is_file():
            found = json.loads(settings_file.read_text())
            if found != settings:
                raise BadInputError(self.path, None, f"holds videos extracted with other settings ({found}, now "
                                                     f"{settings}); delete it or pass --overwrite")
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            settings_file.write_text(json.dumps(settings, indent=1))

    def names(self) -> set[str]:
        return {p.stem for p in self.path.glob("*.npy")}

    def save(self, vid: str, feats: np.ndarray) -> None:
        tmp = self.path / f".{vid}.npy.tmp"
        with open(tmp, "wb") as f:
            np.save(f, feats.astype(np.float16 if self.settings["stored_dtype"] == "float16" else np.float32))
        os.replace(tmp, self.path / f"{vid}.npy")

    def load(self, vid: str) -> np.ndarray:
        return np.load(self.path / f"{vid}.npy")

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def existing_db_videos(output: Path, settings: dict[str, Any]) -> set[str]:
    """Videos already in the db at ``output`` (none if there is no db); other settings are an error."""
    if not output.exists():
        return set()
    from data.dbs.video_db import VideoFeatureDb

    db = VideoFeatureDb(output)
    found = db.meta.get("extraction")
    if found != settings:
        raise BadInputError(output, None, f"exists with other extraction settings ({found}, now {settings}); "
                                          "pass --overwrite to rebuild it or choose another --output")
    return set(db.id2nframe)


def db_items(output: Path, old: set[str], parts: FinishedParts) -> Iterator[tuple[str, np.ndarray]]:
    """The existing db's videos (those not re-extracted), then the finished parts."""
    new = parts.names()
    if old - new:
        from data.dbs.video_db import VideoFeatureDb

        db = VideoFeatureDb(output)
        for vid in sorted(old - new):
            yield vid, db[vid]
    for vid in sorted(new):
        yield vid, parts.load(vid)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns 0 or exits with ``error: ...``."""
    args = parse_args(argv)
    from data.dbs.video_db import build_video_db  # imported here so --help stays fast

    t0 = time.time()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    policy = BadInputPolicy(skip=args.skip_bad, log=lambda msg: tqdm.write(msg, file=sys.stderr))
    try:
        videos = list_videos(args.video_dir)
        streams = [s.to(device) for s in build_streams(args)]
        settings = run_settings(args, streams)
        if args.overwrite:
            FinishedParts(args.output, settings).remove()
        old = set() if args.overwrite else existing_db_videos(args.output, settings)
        parts = FinishedParts(args.output, settings)
        resumed = parts.names()
        todo = [(vid, path) for vid, path in videos if vid not in old | resumed]
        plan = window_plan(streams, args.frame_interval)
        new_frames = 0
        with tqdm(total=len(todo), desc=f"videos ({device.type})", unit="video", file=sys.stderr) as bar:
            for vid, feats in extract(todo, streams, plan, device, args.batch_size, args.workers, policy, bar):
                parts.save(vid, feats)
                new_frames += len(feats)
        extract_s = time.time() - t0
        if not parts.names():  # nothing new (only bad videos, or all already in the db)
            parts.remove()
            print(f"nothing new: {len(old)} videos already in {args.output}, skipped {policy.count} bad")
            return 0
        counts = build_video_db(
            db_items(args.output, old, parts), args.output, frame_interval=args.frame_interval, fp16=args.fp16,
            compress=args.compress, overwrite=args.overwrite or bool(old), expected_dim=sum(s.dim for s in streams),
            components=settings["streams"], extra_meta={"extraction": settings},
        )
        parts.remove()
    except (BadInputError, WeightsError, FileExistsError, FileNotFoundError) as e:
        kept = args.output.with_name(args.output.name + ".partial")
        sys.exit(f"error: {e}" + (f" (finished videos are kept in {kept}; rerun to resume)" if kept.is_dir() else ""))
    extracted = len(todo) - policy.count
    minutes = new_frames * args.frame_interval / 60
    rate = f", {extract_s / minutes:.1f} s per minute of video" if minutes else ""
    dims = "+".join(str(s.dim) for s in streams)
    print(f"wrote {counts['videos']} videos ({extracted} extracted, {len(resumed)} resumed, "
          f"{len(old - resumed)} kept), "
          f"{counts['frames']} frames (dim {counts['feature_dim']} = {dims}), skipped {policy.count} bad "
          f"-> {args.output} in {time.time() - t0:.1f}s{rate}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
