"""Mine the significant-word table of MSSM / LVWM (SNP-S3) for one tokenizer, beside the subtitle db.

Counts noun / verb / adjective words (spaCy ``en_core_web_sm`` when installed, else the documented
fallback rule of ``data/prepro/significant_words.py``) over the subtitle and query texts of the given text
dbs, maps them to token ids with whole-word handling (WordPiece ``##``, BPE space markers) and keeps the
``--top`` most frequent. Example (from the repo root)::

    python scripts/mine_significant_words.py demo_data/txt_db/tv_subtitles.db demo_data/txt_db/tvr_train.db \\
        --tokenizer /path/to/tokenizer --top 3000

writes ``demo_data/txt_db/tv_subtitles.db/significant_words.json`` (the first db's folder), which
pre-training reads with ``mlm_masking: "significant"`` or the ``lvwm`` task.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])  # run as `python scripts/x.py`: make data/ importable
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from data.prepro.significant_words import TABLE_FILE, table_for_dbs  # noqa: E402
from utils.atomic_io import atomic_write_text  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus", nargs="+", help="text dbs: a subtitle db first, then any query dbs")
    p.add_argument("--tokenizer", required=True, help="local Hugging Face tokenizer folder the dbs were built with")
    p.add_argument("--top", type=int, default=3000, help="significant words kept (SNP-S3 words_top_k, default 3000)")
    p.add_argument("--pos-tagger", "--pos_tagger", dest="pos_tagger", default="auto",
                   choices=("auto", "spacy", "fallback"), help="auto: spaCy when installed, else the fallback rule")
    p.add_argument("--output", type=Path, default=None, help=f"default: FIRST_DB/{TABLE_FILE}")
    args = p.parse_args(argv)
    if args.top < 1:
        p.error("--top must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    output = args.output or Path(args.corpus[0]) / TABLE_FILE
    try:
        table = table_for_dbs(args.corpus, args.tokenizer, args.top, args.pos_tagger)
    except (OSError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    atomic_write_text(output, json.dumps(table, ensure_ascii=False))
    words = table["words"]
    print(f"{len(words)} significant words ({table['pos_tagger']}, {table['num_texts']} texts, "
          f"{table['num_content_words']} content words) -> {output}")
    print("top 20: " + ", ".join(w["word"] for w in words[:20]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
