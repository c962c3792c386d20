#!/usr/bin/env python
"""Long clips: time and peak memory of the Temporal Transformer and of a full pre-training step at
100 / 400 / 1,600 frames, global attention vs HTWA windows (model.temporal_windows).

Model: config/hero_demo_model.json (hidden 384, 6 Cross-modal layers) with a 3-layer Temporal Transformer;
variants ``global`` (HERO: every layer global), ``htwa`` (windows 8, 16, global: LF-VILA's widening with a
global top) and ``local`` (8, 16, 32: every layer windowed). Clips: every subtitle owns 4 consecutive
frames and has 12 tokens. Parts:
  temporal  forward + backward of the Temporal Transformer alone on (B, L, 384) inputs
  step      a full MFM-NCE pre-training step (forward, backward, AdamW) of HeroForPretraining
Each (part, frames, variant) runs in its own process; time = median of ``--repeats`` after one warm-up;
memory: ``saved_mib`` = tensors autograd saves for backward in one step (activation memory, what grows with
frames; device-independent and not disturbed by other processes), and ``peak_mib`` = CUDA max allocated
on a GPU, else the process's peak RSS (includes the interpreter and torch, about 300 MiB).
The last line printed is one JSON object.

    python bench/long_form.py --frames 100 400 1600 --repeats 3
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = {"global": None, "htwa": [8, 16, None], "local": [8, 16, 32]}
SUB_FRAMES, SUB_TOKENS, PAD, SEP = 4, 12, 0, 102


def build(frames: int, variant: str):
    import torch

    from config.loader import load_config
    from model.config import HeroModelConfig, TemporalAttentionConfig
    base = load_config(HeroModelConfig, ROOT / "config/hero_demo_model.json")
    c_config = replace(base.c_config, num_hidden_layers=3, max_position_embeddings=max(frames, 514))
    config = replace(base, c_config=c_config, max_clip_len=frames,
                     temporal_attention=TemporalAttentionConfig(windows=VARIANTS[variant]))
    torch.manual_seed(0)
    return config


def mfm_batch(config, frames: int, clips: int):
    import numpy as np
    import torch

    from data.loading.collate import VideoItem
    from data.loading.task_collate import collate_mfm
    rng = np.random.default_rng(0)
    items, masks = [], []
    for _ in range(clips):
        owner = torch.arange(frames) // SUB_FRAMES
        subs = int(owner.max()) + 1
        rows = [[SEP, *rng.integers(1000, 30000, SUB_TOKENS).tolist()] for _ in range(subs)]
        items.append(VideoItem(torch.randn(frames, config.vfeat_dim), owner, rows))
        masks.append(torch.from_numpy(rng.random(frames) < 0.15))
    return collate_mfm(items, masks, PAD)


def measure(part: str, frames: int, variant: str, clips: int, repeats: int) -> dict:
    import torch

    from model.pretrain import HeroForPretraining
    from model.temporal import TemporalTransformer
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = build(frames, variant)
    if part == "temporal":
        module = TemporalTransformer(config.c_config, config.temporal_attention).to(device).train()
        inputs = torch.randn(clips, frames, config.hidden_size, device=device)
        mask = torch.ones(clips, frames, dtype=torch.bool, device=device)

        def work() -> None:
            module(inputs, mask).sum().backward()
    else:
        module = HeroForPretraining(config).to(device).train()
        optimizer = torch.optim.AdamW(module.parameters(), lr=1e-5)
        batch = mfm_batch(config, frames, clips).to(device)

        def work() -> None:
            optimizer.zero_grad(set_to_none=True)
            module(batch).loss.backward()
            optimizer.step()
    work()  # warm-up (and AdamW state)
    saved = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        work()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start_mem = torch.cuda.memory_allocated()
    else:
        start_mem = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        work()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - begin)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() - start_mem
    else:  # peak RSS after the warm-up already holds one step's memory: report the whole process peak too
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"part": part, "frames": frames, "variant": variant, "seconds": statistics.median(times),
            "peak_mib": peak / 2**20, "saved_mib": sum(saved.values()) / 2**20, "device": device.type, "clips": clips}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[100, 400, 1600])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--parts", nargs="+", default=["temporal", "step"], choices=["temporal", "step"])
    parser.add_argument("--clips", type=int, default=2, help="videos per batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", nargs=3, metavar=("PART", "FRAMES", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        import torch
        torch.set_num_threads(args.threads)
        part, frames, variant = args.one
        print(json.dumps(measure(part, int(frames), variant, args.clips, args.repeats)))
        return
    results = []
    print(f"{'part':9} {'frames':>6} {'variant':8} {'s/iter':>9} {'saved MiB':>10} {'peak MiB':>9}")
    for part in args.parts:
        for frames in args.frames:
            for variant in args.variants:
                out = subprocess.run([sys.executable, __file__, "--one", part, str(frames), variant,
                                      "--clips", str(args.clips), "--repeats", str(args.repeats),
                                      "--threads", str(args.threads)], capture_output=True, text=True)
                if out.returncode:
                    raise SystemExit(f"{part} {frames} {variant} failed: {out.stderr[-2000:]}")
                row = json.loads(out.stdout.strip().splitlines()[-1])
                results.append(row)
                print(f"{part:9} {frames:>6} {variant:8} {row['seconds']:>9.4f} {row['saved_mib']:>10.1f} "
                      f"{row['peak_mib']:>9.1f}", flush=True)
    growth = {}
    low, high = min(args.frames), max(args.frames)
    for part in args.parts:
        for variant in args.variants:
            at = {r["frames"]: r for r in results if r["part"] == part and r["variant"] == variant}
            growth[f"{part}/{variant}"] = {"time_x": at[high]["seconds"] / at[low]["seconds"],
                                           "saved_memory_x": at[high]["saved_mib"] / at[low]["saved_mib"],
                                           "peak_memory_x": at[high]["peak_mib"] / at[low]["peak_mib"]}
            print(f"{part}/{variant}: {low} → {high} frames: time ×{growth[f'{part}/{variant}']['time_x']:.1f}, "
                  f"saved activations ×{growth[f'{part}/{variant}']['saved_memory_x']:.1f}, "
                  f"peak memory ×{growth[f'{part}/{variant}']['peak_memory_x']:.1f}")
    print(json.dumps({"results": results, "growth": growth}))


if __name__ == "__main__":
    main()
