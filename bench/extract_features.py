#!/usr/bin/env python
"""Feature extraction cost: seconds per minute of video, per encoder (decoding and encoding apart).

A 640x360, 30 fps video of moving shapes (``--windows`` x 1.5 s) is written with PyAV, decoded as
scripts/extract_features.py does (one process), and each encoder runs at full size (224 x 224; SlowFast:
32 frames) on batches of ``--batch-size`` windows after one warm-up batch. Weights are random (compute
does not depend on them); CLIP is a ViT-B/32-sized random vision tower unless ``--clip DIR`` is given.
A minute of video is 40 windows at 1.5 s. Wall seconds and CPU seconds (all threads of the process) are
reported: on a shared machine the wall figure grows with the load. Prints a table; the last line is JSON.

    python bench/extract_features.py                  # CPU here; on a GPU: bf16 autocast, as the script
    python bench/extract_features.py --windows 8 --batch-size 8
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from features.clip import CLIP_MEAN, CLIP_STD, ClipImageEncoder  # noqa: E402
from features.resnet import resnet152  # noqa: E402
from features.slowfast import slowfast_r50  # noqa: E402
from features.streams import clip_stream, resnet_stream, slowfast_stream  # noqa: E402
from features.video import WindowPlan, iter_windows  # noqa: E402
from features.weights import load_clip_vision  # noqa: E402

FRAME_INTERVAL = 1.5
WINDOWS_PER_MINUTE = 60 / FRAME_INTERVAL


def write_bench_video(path: Path, seconds: float, fps: int = 30, width: int = 640, height: int = 360) -> Path:
    """Moving coloured squares over a gradient, H.264."""
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        base = np.linspace(0, 200, width, dtype=np.float32)[None, :, None].repeat(height, 0).repeat(3, 2)
        for i in range(int(seconds * fps)):
            img = base.astype(np.uint8)
            for c, speed in enumerate((3, 5, 7)):
                x, y = (speed * i) % (width - 60), (speed * i // 2) % (height - 60)
                img[y:y + 60, x:x + 60, c] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decode_seconds_per_minute(path: Path, plan: WindowPlan, seconds: float, batch_size: int) -> tuple[float, float]:
    """(wall, CPU) seconds per minute of video of decoding, resizing and cropping."""
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in iter_windows(path, plan, batch_size):
        pass
    return (time.perf_counter() - t0) / (seconds / 60), (time.process_time() - c0) / (seconds / 60)


@torch.inference_mode()
def encode_seconds_per_minute(stream: torch.nn.Module, batch: torch.Tensor, device: torch.device,
                              reps: int) -> tuple[float, float]:
    """(wall, CPU) seconds per minute of video of the encoder forward (CPU time: all threads of this process)."""
    stream = stream.to(device).eval()
    batch = batch.to(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        stream(batch)  # warm-up (allocator, kernels)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(reps):
            stream(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
    scale = WINDOWS_PER_MINUTE / (reps * len(batch))
    return (time.perf_counter() - t0) * scale, (time.process_time() - c0) * scale


def clip_encoder(folder: Path | None) -> tuple[ClipImageEncoder, tuple, tuple]:
    if folder is not None:
        return load_clip_vision(folder)
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                              image_size=224, patch_size=32, projection_dim=512)  # ViT-B/32's shape
    return ClipImageEncoder(CLIPVisionModelWithProjection(config).eval()), CLIP_MEAN, CLIP_STD


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--windows", type=int, default=4, help="video length in 1.5 s windows (default 4)")
    p.add_argument("--batch-size", type=int, default=4, help="windows per encoder forward (default 4)")
    p.add_argument("--reps", type=int, default=1, help="timed batches per encoder after the warm-up (default 1)")
    p.add_argument("--encoders", default="resnet152,slowfast_r50,clip")
    p.add_argument("--clip", type=Path, default=None, help="a local CLIP checkpoint folder (default: random B/32)")
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    encoders = [e.strip() for e in args.encoders.split(",")]
    seconds = args.windows * FRAME_INTERVAL
    torch.manual_seed(0)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        video = write_bench_video(Path(tmp) / "bench.mp4", seconds)
        for name in encoders:
            if name == "resnet152":
                stream, plan = resnet_stream(resnet152()), WindowPlan(FRAME_INTERVAL, (224,))
                batch = torch.randint(0, 256, (args.batch_size, 224, 224, 3), dtype=torch.uint8)
            elif name == "slowfast_r50":
                stream, plan = slowfast_stream(slowfast_r50()), WindowPlan(FRAME_INTERVAL, (), 224)
                batch = torch.randint(0, 256, (args.batch_size, 32, 224, 224, 3), dtype=torch.uint8)
            elif name == "clip":
                encoder, mean, std = clip_encoder(args.clip)
                stream = clip_stream(encoder, mean, std)
                plan = WindowPlan(FRAME_INTERVAL, (stream.size,))
                batch = torch.randint(0, 256, (args.batch_size, stream.size, stream.size, 3), dtype=torch.uint8)
            else:
                p.error(f"unknown encoder {name}")
            dec, dec_cpu = decode_seconds_per_minute(video, plan, seconds, args.batch_size)
            enc, enc_cpu = encode_seconds_per_minute(stream, batch, device, args.reps)
            results[name] = {"decode_s_per_min": round(dec, 2), "encode_s_per_min": round(enc, 2),
                             "total_s_per_min": round(dec + enc, 2), "cpu_s_per_min": round(dec_cpu + enc_cpu, 2),
                             "dim": stream.dim}
            del stream, batch
    threads = torch.get_num_threads()
    print(f"device {device} ({threads} CPU threads), video 640x360 30 fps, {args.windows} windows, "
          f"batch {args.batch_size}")
    print(f"{'encoder':<14}{'dim':>6}{'decode s/min':>14}{'encode s/min':>14}{'total s/min':>13}{'CPU s/min':>11}")
    for name, r in results.items():
        print(f"{name:<14}{r['dim']:>6}{r['decode_s_per_min']:>14.2f}{r['encode_s_per_min']:>14.2f}"
              f"{r['total_s_per_min']:>13.2f}{r['cpu_s_per_min']:>11.2f}")
    if {"resnet152", "slowfast_r50"} <= results.keys():
        hero = results["resnet152"]["encode_s_per_min"] + results["slowfast_r50"]["encode_s_per_min"]
        hero_dec = results["slowfast_r50"]["decode_s_per_min"]  # one decode serves both streams
        print(f"HERO resnet152+slowfast_r50 (4352-d): ~{hero + hero_dec:.1f} s per minute of video")
        results["hero_total_s_per_min"] = round(hero + hero_dec, 2)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"load average {load} (other processes share the CPUs: wall figures grow with it, CPU s/min much less)")
    print(json.dumps({"device": str(device), "threads": threads, "load_average": load, "windows": args.windows,
                      "batch_size": args.batch_size, "results": results}))


if __name__ == "__main__":
    main()
