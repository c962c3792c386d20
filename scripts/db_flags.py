"""Command-line flags shared by the scripts that build an LMDB db (prepro_sub, prepro_query, convert_videodb)."""
from __future__ import annotations

import argparse


def add_db_writer_flags(parser: argparse.ArgumentParser, unit: str) -> None:
    """``--skip-bad`` (bad ``unit``s are counted instead of stopping), ``--compress``, ``--overwrite``."""
    parser.add_argument("--skip-bad", "--skip_bad", dest="skip_bad", action="store_true",
                        help=f"skip bad {unit} (counted in the summary) instead of stopping")
    parser.add_argument("--compress", action="store_true", help="lz4-compress the records")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output db")
