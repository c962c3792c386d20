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

from evaluation.vcmr_chance import chance_level, chance_metrics, random_rows  # noqa: E402

__all__ = ["chance_level", "chance_metrics", "random_rows"]  # chance_metrics: also imported from here


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

    try:
        mean = chance_level(QueryDb(args.query_db), VideoFeatureDb(args.video_db), args.min_pred_l,
                            args.max_pred_l, args.repeats)
    except ValueError as e:
        sys.exit(f"error: {e}")
    print(f"chance level over {mean['num_queries']} queries, {mean['num_videos']} candidate videos, "
          f"{args.repeats} draws:")
    print(json.dumps({task: mean[task] for task in ("VCMR", "SVMR", "VR")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
