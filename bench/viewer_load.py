#!/usr/bin/env python
"""Load time of scripts/view_results.py on a TVR-val-sized run: 10,895 queries × 100 VCMR predictions over
2,179 videos (synthetic predictions and ground truth in the official formats). Prints the time to index the
run and the server's response time per request kind (median of --repeats); the last line is JSON.

    python bench/viewer_load.py [--queries 10895] [--videos 2179] [--repeats 20]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from viewer.run_index import load_run  # noqa: E402
from viewer.server import ViewerServer  # noqa: E402


def synthetic_run(folder: Path, queries: int, videos: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    names = [f"show_s01e{i // 100:02d}_seg02_clip_{i % 100:02d}" for i in range(videos)]
    db = folder / "query.db"
    db.mkdir(parents=True)
    records, items = [], []
    for q in range(queries):
        vid = int(rng.integers(videos))
        st = float(rng.uniform(0, 60))
        records.append({"desc_id": q, "desc": f"someone does thing number {q} in the room", "vid_name": names[vid],
                        "ts": [round(st, 2), round(st + float(rng.uniform(2, 20)), 2)], "duration": 90.0,
                        "type": ["v", "t", "vt"][q % 3]})
        pred_videos = rng.integers(videos, size=100)
        starts = rng.uniform(0, 80, size=100)
        items.append({"desc_id": q, "desc": records[-1]["desc"], "predictions": [
            [int(v), round(float(s), 4), round(float(s + 6), 4), float(100 - r)]
            for r, (v, s) in enumerate(zip(pred_videos, starts))]})
    (db / "query_data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    out = folder / "run" / "results_val"
    out.mkdir(parents=True)
    predictions = {"video2idx": {v: i for i, v in enumerate(names)}, "VCMR": items,
                   "SVMR": items, "VR": [{**i, "predictions": [[p[0], 0, 0, p[3]] for p in i["predictions"]]}
                                         for i in items]}
    (out / "predictions.json").write_text(json.dumps(predictions))
    (out / "source.json").write_text(json.dumps({"query_db": str(db)}))
    return out.parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queries", type=int, default=10895)
    p.add_argument("--videos", type=int, default=2179)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = synthetic_run(Path(tmp), args.queries, args.videos)
        size = (run / "results_val" / "predictions.json").stat().st_size / 2**20
        start = time.perf_counter()
        index = load_run(run)
        load_s = time.perf_counter() - start
        server = ViewerServer(("127.0.0.1", 0), index)
        server.start_in_thread()
        requests = {"page": "/", "summary": "/api/summary", "list": "/api/queries?page=100",
                    "list_sorted_by_rank": "/api/queries?sort=rank&status=miss0.7",
                    "text_search": "/api/queries?text=number%20777", "query": "/api/query/5000"}
        timings = {}
        for name, path in requests.items():
            samples = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                with urllib.request.urlopen(server.url.rstrip("/") + path) as response:
                    response.read()
                samples.append(1000 * (time.perf_counter() - t0))
            timings[name] = round(statistics.median(samples), 2)
        server.shutdown()
        server.server_close()
    print(f"predictions.json {size:.1f} MB, {args.queries} queries: indexed in {load_s:.2f} s")
    for name, ms in timings.items():
        print(f"  {name:22s} {ms:8.2f} ms (median of {args.repeats})")
    print(json.dumps({"queries": args.queries, "predictions_mb": round(size, 1), "index_s": round(load_s, 2),
                      "request_ms": timings}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
