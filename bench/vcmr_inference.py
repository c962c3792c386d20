#!/usr/bin/env python
"""Throughput and peak memory of VCMR corpus scoring + decoding (evaluation/vcmr_inference.MomentScorer).

Timed: for each batch of 80 query vectors, video scores against the whole corpus (max-cosine, video
chunks), VR top-k, start/end probabilities on each query's top 100 videos + its GT video, top-200
spans (torch.topk), NMS, top 100 — i.e. everything of inference after the encoders. The encoders are
timed apart (--encoders, the real base HeroForVcmr on synthetic 75-frame clips with 4352-d features
and ~15-token queries) and the whole TVR val inference is estimated from the three rates.
Workload: TVR val size = 2,179 clips of 60–90 frames (≈75), 10,895 queries, hidden 768
(config/hero_finetune.json); synthetic frame states and query vectors (seeded). --scale 10 gives a
10x larger corpus. By default only --queries 800 queries are timed (rate is per query, memory is
per batch); --full runs all 10,895.

    python bench/vcmr_inference.py [--scale 1 10] [--full] [--encoders] [--json]

--end-to-end (bench/vcmr_end_to_end.py): on the TVR-val-sized synthetic corpus, time every stage of one
inference in one run — encode --videos clips, encode --e2e-queries queries, score and decode them — in
fp32 and bf16 (--precisions), then the reference's per-query loop (fp32, --reference-queries) for
comparison, both after an untimed warm-up; prints per-stage rates, the whole-TVR-val estimate and the
per-query speed-up. The last line is JSON. bf16 is timed even on a CPU without bf16 units (where
inference itself would run fp32).

    python bench/vcmr_inference.py --end-to-end [--videos 20] [--e2e-queries 1024] [--reference-queries 320]
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.step import make_clip  # noqa: E402
from bench.vcmr_end_to_end import end_to_end  # noqa: E402
from config.loader import load_config  # noqa: E402
from data.loading.collate import collate_text, collate_videos  # noqa: E402
from evaluation.vcmr_inference import CorpusEmbeddings, DecodeOptions, MomentScorer  # noqa: E402
from model.config import HeroModelConfig  # noqa: E402
from model.vcmr import HeroForVcmr  # noqa: E402
from utils.precision import cpu_has_fast_bf16  # noqa: E402

TVR_VAL_VIDEOS, TVR_VAL_QUERIES, BATCH = 2179, 10895, 80


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def current_rss_mb() -> float:
    """Resident memory now (the peak above also keeps allocator high-water marks)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def corpus(num_videos: int, dim: int, seed: int) -> CorpusEmbeddings:
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(60, 91, (num_videos,), generator=gen)
    frames = torch.randn(num_videos, int(lengths.max()), dim, generator=gen)
    mask = torch.arange(frames.shape[1])[None] < lengths[:, None]
    frames *= mask[..., None]
    return CorpusEmbeddings(frames, mask, lengths, np.arange(num_videos))


def base_model() -> HeroForVcmr:
    return HeroForVcmr(load_config(HeroModelConfig, "config/hero_finetune.json")).eval()


@torch.no_grad()
def encoder_rates(model: HeroForVcmr, threads: int, videos: int = 20, queries: int = 160) -> dict:
    """Videos/s of the corpus encoder (Cross-modal + Temporal) and queries/s of the query encoder."""
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    clips = [make_clip(rng, variable=True)[0] for _ in range(videos)]
    model.encode_videos(collate_videos(clips[:2], pad_id=1))  # warm-up
    t = time.perf_counter()
    for first in range(0, videos, 10):
        model.encode_videos(collate_videos(clips[first:first + 10], pad_id=1))
    video_rate = videos / (time.perf_counter() - t)
    rows = [[0, *rng.integers(5, 50000, int(rng.integers(8, 23))).tolist()] for _ in range(queries)]
    t = time.perf_counter()
    for first in range(0, queries, BATCH):
        model.encode_queries(collate_text(rows[first:first + BATCH], pad_id=1))
    return {"videos_per_s": round(video_rate, 2), "query_encoding_per_s": round(queries / (time.perf_counter() - t), 1)}


def run(scale: int, num_queries: int, threads: int, model: HeroForVcmr) -> dict:
    torch.set_num_threads(threads)
    config = model.config
    emb = corpus(TVR_VAL_VIDEOS * scale, config.hidden_size, seed=scale)
    rss_corpus = peak_rss_mb()
    scorer = MomentScorer(model, emb, DecodeOptions())
    gen = torch.Generator().manual_seed(0)
    rates, rss_marks, now_marks = [], [], []
    start = time.perf_counter()
    with torch.no_grad():
        for first in range(0, num_queries, BATCH):
            n = min(BATCH, num_queries - first)
            queries = torch.randn(n, config.hidden_size, generator=gen)
            gt = torch.randint(0, len(emb.frames), (n,), generator=gen).tolist()
            t = time.perf_counter()
            scorer.decode(queries, gt)
            rates.append(n / (time.perf_counter() - t))
            rss_marks.append(peak_rss_mb())
            now_marks.append(current_rss_mb())
    total = time.perf_counter() - start
    return {"scale": scale, "videos": len(emb.frames), "padded_frames": emb.frames.shape[1],
            "queries": num_queries, "threads": threads, "queries_per_s": round(num_queries / total, 1),
            "corpus_mb": round(emb.frames.numel() * 4 / 2**20), "peak_rss_after_corpus_mb": round(rss_corpus),
            "peak_rss_after_first_batch_mb": round(rss_marks[0]), "peak_rss_end_mb": round(rss_marks[-1]),
            "rss_after_first_batch_mb": round(now_marks[0]), "rss_end_mb": round(now_marks[-1]),
            "est_full_tvr_val_s": round(TVR_VAL_QUERIES / (num_queries / total))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, nargs="+", default=[1, 10], help="corpus size multiples of TVR val")
    parser.add_argument("--queries", type=int, default=800, help="queries timed (default: a quick subset)")
    parser.add_argument("--full", action="store_true", help="all 10,895 TVR val queries")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--encoders", action="store_true", help="also time the video and query encoders")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--end-to-end", action="store_true", help="time a whole inference, ours and the reference's")
    parser.add_argument("--videos", type=int, default=20, help="--end-to-end: videos encoded per precision")
    parser.add_argument("--e2e-queries", type=int, default=1024, help="--end-to-end: queries per precision")
    parser.add_argument("--reference-queries", type=int, default=320,
                        help="--end-to-end: reference queries timed, after 160 untimed (0 = no reference loop)")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    args = parser.parse_args()
    model = base_model()
    if args.end_to_end:
        torch.set_num_threads(args.threads)
        print(f"{args.threads} threads; CPU bf16 units: {'yes' if cpu_has_fast_bf16() else 'no'}")
        emb = corpus(TVR_VAL_VIDEOS, model.config.hidden_size, seed=1)
        result = end_to_end(model, emb, args.videos, args.e2e_queries, args.reference_queries, args.precisions)
        result.update(threads=args.threads, cpu_bf16_units=cpu_has_fast_bf16(), peak_rss_mb=round(peak_rss_mb()))
        print(json.dumps(result))
        return 0
    results = [run(s, TVR_VAL_QUERIES if args.full else args.queries, args.threads, model) for s in args.scale]
    for r in results:
        print(f"corpus x{r['scale']}: {r['videos']} videos x {r['padded_frames']} frames ({r['corpus_mb']} MB) | "
              f"{r['queries']} queries: {r['queries_per_s']} q/s (full TVR val ≈ {r['est_full_tvr_val_s']} s) | "
              f"peak RSS {r['peak_rss_after_corpus_mb']} MB after corpus, {r['peak_rss_after_first_batch_mb']} MB "
              f"after batch 1, {r['peak_rss_end_mb']} MB at end; current RSS {r['rss_after_first_batch_mb']} MB after "
              f"batch 1, {r['rss_end_mb']} MB at end")
    if args.encoders:
        rates = encoder_rates(model, args.threads)
        results.append(rates)
        scoring = next((r["queries_per_s"] for r in results if r.get("scale") == 1), None)
        print(f"encoders: {rates['videos_per_s']} videos/s, {rates['query_encoding_per_s']} queries/s")
        if scoring:
            total = (TVR_VAL_VIDEOS / rates["videos_per_s"] + TVR_VAL_QUERIES / rates["query_encoding_per_s"]
                     + TVR_VAL_QUERIES / scoring)
            print(f"estimated full TVR val inference (encode 2,179 videos + 10,895 queries, score, decode): "
                  f"{total / 60:.1f} min on {args.threads} threads")
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
