#!/usr/bin/env python
"""Chance level of the VCMR / SVMR / VR metrics for a retrieval query db: what a predictor that knows
nothing scores, to read fine-tuning results against.

The uniform predictor ranks the candidate videos (the query db's video2idx ∩ the video db, or every
video) in random order and, per video, proposes random legal spans (``min_pred_l`` ≤ frames <
``max_pred_l``, inside the clip, as inf_vcmr.py decodes). VCMR takes its 100 rows from random
videos; SVMR the same on the ground-truth video. Metrics are the official ones
(evaluation/tvr_metrics.py), averaged over ``--repeats`` draws.

    python scripts/vcmr_chance.py --query-db demo_data/txt_db/tvr_val.db --video-db demo_data/video_db/tv
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from evaluation.tvr_metrics import MAX_PREDICTIONS, evaluate  # noqa: E402


def random_rows(rng: np.random.Generator, videos: np.ndarray, frames: np.ndarray, interval: float,
                min_len: int, max_len: int) -> list[list[float]]:
    """One random legal span on each of ``videos`` (official ids) with ``frames`` frames each."""
    longest = np.minimum(max_len - 1, frames)
    length = rng.integers(np.minimum(min_len, longest), longest + 1)
    start = rng.integers(0, frames - length + 1)
    score = np.sort(rng.random(len(videos)))[::-1]
    return [[int(v), round(s * interval, 4), round((s + n) * interval, 4), float(p)]
            for v, s, n, p in zip(videos, start, length, score)]


def chance_metrics(queries: list[dict], video2idx: dict[str, int], frames: dict[str, int], interval: float,
                   min_len: int = 2, max_len: int = 16, seed: int = 0) -> dict:
    """Official metrics of one draw of the uniform predictor."""
    rng = np.random.default_rng(seed)
    names = sorted(video2idx)
    official = np.array([video2idx[v] for v in names])
    counts = np.array([frames[v] for v in names])
    results: dict[str, list] = {"VCMR": [], "SVMR": [], "VR": []}
    for q in queries:
        order = rng.permutation(len(names))[:MAX_PREDICTIONS]
        item = {"desc_id": q["desc_id"], "desc": ""}
        vcmr_videos = rng.integers(0, len(names), MAX_PREDICTIONS)
        results["VCMR"].append({**item, "predictions": random_rows(
            rng, official[vcmr_videos], counts[vcmr_videos], interval, min_len, max_len)})
        results["VR"].append({**item, "predictions": [[int(official[i]), 0.0, 0.0, float(-r)]
                                                      for r, i in enumerate(order)]})
        gt = names.index(q["vid_name"])
        results["SVMR"].append({**item, "predictions": random_rows(
            rng, np.full(MAX_PREDICTIONS, official[gt]), np.full(MAX_PREDICTIONS, counts[gt]), interval,
            min_len, max_len)})
    return evaluate({"video2idx": video2idx, **results}, queries, by_type=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--query-db", required=True, type=Path)
    p.add_argument("--video-db", required=True, type=Path)
    p.add_argument("--min-pred-l", type=int, default=2)
    p.add_argument("--max-pred-l", type=int, default=16)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args(argv)
    from data.dbs.query_db import QueryDb
    from data.dbs.video_db import VideoFeatureDb

    db, videos = QueryDb(args.query_db), VideoFeatureDb(args.video_db)
    if not db.has_labels:
        sys.exit(f"error: {args.query_db} has no labels: chance metrics need ground truth")
    in_corpus = set(videos.ids())
    video2idx = ({v: i for v, i in db.video2idx.items() if v in in_corpus} if db.video2idx
                 else {v: i for i, v in enumerate(sorted(in_corpus))})
    queries = [{k: db[q][k] for k in ("desc_id", "vid_name", "ts")} for q in db.ids()]
    missing = [q for q in queries if q["vid_name"] not in video2idx]
    if missing:
        sys.exit(f"error: query {missing[0]['desc_id']} of {args.query_db} is on {missing[0]['vid_name']!r}, "
                 f"which is not a candidate video")
    frames = {v: videos.num_frames(v) for v in video2idx}
    runs = [chance_metrics(queries, video2idx, frames, videos.frame_interval, args.min_pred_l, args.max_pred_l,
                           seed) for seed in range(args.repeats)]
    mean = {task: {k: round(float(np.mean([r[task][k] for r in runs])), 2) for k in runs[0][task]}
            for task in ("VCMR", "SVMR", "VR")}
    print(f"chance level over {len(queries)} queries, {len(video2idx)} candidate videos, {args.repeats} draws:")
    print(json.dumps(mean))
    return 0


if __name__ == "__main__":
    sys.exit(main())
