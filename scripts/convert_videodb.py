"""Convert per-video .npz feature files into a video feature db (LMDB).

HERO's features are ResNet-152 (2048-d) and SlowFast (2304-d), one vector per 1.5 s, stored as two
parallel folders of ``<vid>.npz`` files (array ``features``). Each video's streams are truncated to the
shortest (extractors often disagree by one frame) and concatenated in the given order, ``[resnet |
slowfast]`` = 4352-d. Example (from the repo root)::

    python scripts/convert_videodb.py --feature-dir feats/tv --output video_db/tv
    python scripts/convert_videodb.py --inputs feats/resnet_features feats/slowfast_features \\
        --dims 2048 2304 --output video_db/tv --fp16

Videos missing from a folder, unreadable files and dim mismatches stop the script with one line naming
the video / file and the problem, unless --skip-bad is given.
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

from data.prepro.annotations import BadInputError, BadInputPolicy  # noqa: E402
from scripts.db_flags import add_db_writer_flags  # noqa: E402

DEFAULT_SUBDIRS = ("resnet_features", "slowfast_features")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--feature-dir", "--feature_dir", dest="feature_dir", type=Path,
                     help=f"folder holding {' and '.join(DEFAULT_SUBDIRS)}/<vid>.npz")
    src.add_argument("--inputs", nargs="+", type=Path,
                     help="feature folders to concatenate, in order (each holds <vid>.npz files)")
    p.add_argument("--output", required=True, type=Path, help="db directory to create")
    p.add_argument("--dims", nargs="+", type=int, default=None,
                   help="expected feature dim of each input folder (default: inferred, checked equal)")
    p.add_argument("--key", default="features", help="array name inside each npz (default: features)")
    p.add_argument("--frame-interval", "--frame_interval", dest="frame_interval", type=float, default=1.5,
                   help="seconds per frame, recorded in meta.json (default 1.5)")
    p.add_argument("--fp16", action="store_true", help="store float16 (the reader returns float32)")
    add_db_writer_flags(p, "videos")
    args = p.parse_args(argv)
    if not args.frame_interval > 0:
        p.error("--frame-interval must be > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns 0 or exits with ``error: ...``."""
    args = parse_args(argv)
    from data.dbs.video_db import build_video_db, iter_npz_features  # imported here so --help stays fast

    folders = args.inputs or [args.feature_dir / d for d in DEFAULT_SUBDIRS]
    if args.dims is not None and len(args.dims) != len(folders):
        sys.exit(f"error: --dims has {len(args.dims)} values for {len(folders)} input folders")
    names = [Path(f).name.removesuffix("_features") for f in folders]
    policy = BadInputPolicy(skip=args.skip_bad, log=lambda msg: tqdm.write(msg, file=sys.stderr))
    stats: dict = {}
    t0 = time.time()
    try:
        items = iter_npz_features(
            folders, policy, key=args.key, stats=stats, expected_dims=args.dims,
            progress=lambda it: tqdm(it, desc="videos", unit="video", file=sys.stderr),
        )
        counts = build_video_db(
            items, args.output, frame_interval=args.frame_interval, fp16=args.fp16, compress=args.compress,
            overwrite=args.overwrite, on_bad=policy,
            components=lambda: [{"name": n, "dim": d, "source": str(f)}
                                for n, d, f in zip(names, stats["dims"], folders)],
            extra_meta={"npz_key": args.key},
        )
    except (BadInputError, FileExistsError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    dims = "+".join(str(d) for d in stats["dims"])
    print(f"wrote {counts['videos']} videos, {counts['frames']} frames (dim {counts['feature_dim']} = {dims}), "
          f"truncated {stats['truncated']} with unequal lengths (max gap {stats['max_length_gap']}), "
          f"skipped {policy.count} bad -> {args.output} in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
