#!/usr/bin/env python
"""Time forward + backward + AdamW steps of each pre-training task at HERO base sizes.

Workload: config/hero_finetune.json (6x768 Cross-modal, 3x768 Temporal, vocab 50272), vfeat_dim 4352,
4 clips x 75 frames, 2 threads, median of 3 steps after a warm-up.
  base      every subtitle covers 3 consecutive frames and has 12 tokens
  base-var  subtitles cover 1-6 consecutive frames and have 4-30 tokens; about one frame in five
            between subtitles is covered by none (seeded)
Prints per task seconds/step, FLOPs executed (FlopCounterMode), achieved GFLOP/s, and the fp32 / bf16
matmul peaks (2048x2048) measured in the same run; with --json the last line is one JSON object.

    python bench/step.py --workload base-var --precision bf16 --json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from config.loader import load_config  # noqa: E402
from data.loading.collate import VideoItem  # noqa: E402
from data.loading.task_collate import MlmExample, collate_fom, collate_mfm, collate_mlm, collate_retrieval  # noqa: E402
from model.config import HeroModelConfig  # noqa: E402
from model.heads.retrieval import RetrievalWeights  # noqa: E402
from model.inputs import MfmNceBatch  # noqa: E402
from model.pretrain import HeroForPretraining  # noqa: E402
from utils.precision import Precision  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLIPS, FRAMES, VFEAT = 4, 75, 4352
CLS, PAD, SEP, MASK, FIRST_WORD = 0, 1, 2, 50264, 5
TASKS = ("mlm", "mfm-nce", "fom", "vsm")


def make_clip(rng: np.random.Generator, variable: bool) -> tuple[VideoItem, list[list[int]]]:
    """One clip: frame ownership, subtitle token lists (without [SEP])."""
    owner = np.full(FRAMES, -1, dtype=np.int64)
    tokens: list[list[int]] = []
    frame = 0
    while frame < FRAMES:
        if variable and tokens and rng.random() < 0.25:  # ≈ 1 frame in 5 between subtitles uncovered
            frame += 1
            continue
        span = int(rng.integers(1, 7)) if variable else 3
        length = int(rng.integers(4, 31)) if variable else 12
        owner[frame: frame + span] = len(tokens)
        tokens.append(rng.integers(FIRST_WORD, 50000, length).tolist())
        frame += span
    feats = torch.from_numpy(rng.standard_normal((FRAMES, VFEAT), dtype=np.float32))
    return VideoItem(feats, torch.from_numpy(owner), [[SEP, *t] for t in tokens]), tokens


def make_batches(variable: bool, seed: int = 0) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    clips = [make_clip(rng, variable) for _ in range(CLIPS)]
    items = [item for item, _ in clips]
    mlm = []
    for item, tokens in clips:
        for sub, ids in enumerate(tokens):
            chosen = rng.random(len(ids)) < 0.15
            chosen[0] |= not chosen.any()
            frames = torch.nonzero(item.frame_owner == sub, as_tuple=True)[0]
            mlm.append(MlmExample(item.frame_feats[frames], [CLS, *np.where(chosen, MASK, ids).tolist()],
                                  [-1, *np.where(chosen, ids, -1).tolist()]))
    masks = [torch.from_numpy(rng.random(FRAMES) < 0.15) for _ in items]
    orders, targets = [], []
    for _ in items:
        selected = np.nonzero(rng.random(FRAMES) < 0.15)[0]
        order = np.arange(FRAMES)
        order[selected] = rng.permutation(selected)
        target = np.full(FRAMES, -1)
        target[order[selected]] = selected
        orders.append(torch.from_numpy(order))
        targets.append(torch.from_numpy(target))
    queries, spans, vsm_items = [], [], []
    for item, tokens in clips:  # 5 frame-owning subtitles per clip become queries, removed from context
        owned = [s for s in range(len(tokens)) if bool((item.frame_owner == s).any())]
        picked = [int(s) for s in rng.choice(owned, 5, replace=False)]
        frames = [torch.nonzero(item.frame_owner == s, as_tuple=True)[0] for s in picked]
        queries.append([[CLS, *tokens[s]] for s in picked])
        spans.append([[int(f[0]), int(f[-1])] for f in frames])
        rows = [[SEP] if s in picked else row for s, row in enumerate(item.subtitle_ids)]
        vsm_items.append(VideoItem(item.frame_feats, item.frame_owner, rows))
    return {"mlm": collate_mlm(mlm, PAD), "mfm-nce": collate_mfm(items, masks, PAD, MfmNceBatch),
            "fom": collate_fom(items, orders, targets, PAD),
            "vsm": collate_retrieval(vsm_items, queries, spans, PAD)}


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * size ** 3 / min(times) / 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=["base", "base-var"], default="base-var")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--steps", type=int, default=3, help="timed steps per task (median reported)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = load_config(HeroModelConfig, ROOT / "config/hero_finetune.json")
    model = HeroForPretraining(config)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.98), eps=1e-6)
    precision = Precision(args.precision, torch.device("cpu"))
    batches = make_batches(args.workload == "base-var")
    weights = RetrievalWeights(lw_st_ed=0.01, lw_neg_ctx=8.0, lw_neg_q=8.0, use_hard_negative=False)

    def step(batch) -> None:
        with precision.autocast():
            loss = model(batch, weights).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    seconds, gflop = {}, {}
    for task in args.tasks:
        batch = batches[task]
        with FlopCounterMode(display=False) as counter:
            with precision.autocast():
                loss = model(batch, weights).loss
            loss.backward()
        optimizer.zero_grad(set_to_none=True)
        gflop[task] = counter.get_total_flops() / 1e9
        step(batch)  # warm-up
        times = []
        for _ in range(args.steps):
            start = time.perf_counter()
            step(batch)
            times.append(time.perf_counter() - start)
        seconds[task] = statistics.median(times)
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    info = {"mlm": batches["mlm"].inputs.attention_mask, "vsm": batches["vsm"].video.cross_modal.attention_mask}
    print(f"workload {args.workload}, precision {args.precision}, {args.threads} threads; "
          f"subtitle sequences: {info['vsm'].shape[0]} (valid slots {int(info['vsm'].sum())} of "
          f"{info['vsm'].numel()} padded)")
    print(f"{'task':<8} {'s/step':>8} {'GFLOP':>8} {'GFLOP/s':>8}")
    for task in args.tasks:
        print(f"{task:<8} {seconds[task]:>8.3f} {gflop[task]:>8.1f} {gflop[task] / seconds[task]:>8.1f}")
    print(f"matmul peak 2048x2048: fp32 {peaks['fp32']:.1f} GFLOP/s, bf16 {peaks['bf16']:.1f} GFLOP/s")
    if args.json:
        print(json.dumps({**{t: round(s, 4) for t, s in seconds.items()},
                          "gflop": {t: round(g, 2) for t, g in gflop.items()},
                          "peak_gflops": {k: round(v, 1) for k, v in peaks.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
