"""Chance level of the VCMR / SVMR / VR metrics: the uniform predictor of ``scripts/vcmr_chance.py``.

The uniform predictor ranks the candidate videos in random order and, per video, proposes random legal
spans (``min_pred_l`` ≤ frames < ``max_pred_l``, inside the clip, as inf_vcmr.py decodes). VCMR takes its
100 rows from random videos; SVMR the same on the ground-truth video. Metrics are the official ones.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from evaluation.tvr_metrics import MAX_PREDICTIONS, evaluate


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


def chance_level(db: Any, videos: Any, min_len: int = 2, max_len: int = 16, repeats: int = 20) -> dict[str, Any]:
    """Mean metrics of ``repeats`` draws of the uniform predictor for a labelled retrieval ``QueryDb`` over a
    ``VideoFeatureDb`` (candidates: the db's video2idx ∩ the video db, or every video).

    Raises:
        ValueError: the db has no labels, or a query's video is not a candidate.
    """
    if not db.has_labels:
        raise ValueError(f"{db.path}: no labels: chance metrics need ground truth")
    in_corpus = set(videos.ids())
    video2idx = ({v: i for v, i in db.video2idx.items() if v in in_corpus} if db.video2idx
                 else {v: i for i, v in enumerate(sorted(in_corpus))})
    queries = [{k: db[q][k] for k in ("desc_id", "vid_name", "ts")} for q in db.ids()]
    missing = [q for q in queries if q["vid_name"] not in video2idx]
    if missing:
        raise ValueError(f"query {missing[0]['desc_id']} of {db.path} is on {missing[0]['vid_name']!r}, "
                         f"which is not a candidate video")
    frames = {v: videos.num_frames(v) for v in video2idx}
    runs = [chance_metrics(queries, video2idx, frames, videos.frame_interval, min_len, max_len, seed)
            for seed in range(repeats)]
    mean: dict[str, Any] = {task: {k: round(float(np.mean([r[task][k] for r in runs])), 2) for k in runs[0][task]}
                            for task in ("VCMR", "SVMR", "VR")}
    mean.update(num_queries=len(queries), num_videos=len(video2idx), draws=repeats)
    return mean
