#!/usr/bin/env python
"""A local web viewer for a run's predictions, and a moment search over a corpus.

    python scripts/view_results.py RUN_DIR [--split val] [--port 8000] [--videos DIR]
    python scripts/view_results.py [RUN_DIR] --checkpoint CKPT --corpus CONFIG.json   # adds the search box

RUN_DIR is a run folder (or one of its results_<split> folders) written by inf_vcmr.py, train_vsm.py
--eval-only or train_videoQA.py --eval-only: its predictions, metrics and the ground truth of the query db
named in results_<split>/source.json. The page shows the metrics, a query list (search, hit / miss at IoU
0.5 / 0.7, sort by the rank of the ground truth) and, per query, the top moments and the ground truth on
one timeline per video with the subtitles under it (QA: answers, predicted vs correct, spans); with
--videos DIR, the video file DIR/<video name>.mp4 plays from a moment's start when you click it.
--checkpoint (a fine-tuned VCMR checkpoint) with --corpus (a VCMR config naming sub_txt_db / vfeat_db and
the decoding options, e.g. config/train-tvr-demo.json) adds a free-text search over that corpus; the
corpus embeddings are cached beside the checkpoint. The server binds 127.0.0.1 (--host to change it) and
prints its URL; Ctrl-C stops it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401  (repository root on sys.path)

from viewer.run_index import RunIndexError, load_run  # noqa: E402
from viewer.server import ViewerServer  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", nargs="?", type=Path, help="run folder or results_<split> folder")
    p.add_argument("--split", default=None, help="which results_<split> (when the run has several)")
    p.add_argument("--port", type=int, default=8000, help="port (0 = any free one; default 8000)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--videos", type=Path, default=None, help="folder of video files named <video name>.mp4")
    p.add_argument("--checkpoint", type=Path, default=None, help="fine-tuned VCMR checkpoint for the search box")
    p.add_argument("--corpus", type=Path, default=None, help="VCMR config naming the corpus to search")
    args = p.parse_args(argv)
    if args.run_dir is None and args.checkpoint is None:
        p.error("give RUN_DIR, or --checkpoint and --corpus")
    if (args.checkpoint is None) != (args.corpus is None):
        p.error("--checkpoint and --corpus go together")
    if args.videos is not None and not args.videos.is_dir():
        p.error(f"--videos {args.videos}: not a folder")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        index = load_run(args.run_dir, args.split) if args.run_dir is not None else None
        search = None
        if args.checkpoint is not None:
            from viewer.search import CorpusSearch
            search = CorpusSearch(args.corpus, args.checkpoint).search
    except (RunIndexError, ValueError, OSError) as error:
        sys.exit(f"error: {' '.join(str(error).split())}")
    server = ViewerServer((args.host, args.port), index, args.videos, search)
    print(f"viewer at {server.url}" + (f" ({index.kind} results, {len(index.rows)} queries)" if index else ""),
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
