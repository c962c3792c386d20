#!/usr/bin/env python
"""Print HERO's results table from evaluation metrics files, beside the published HERO figures.

    python scripts/paper_table.py \
        --tvr FINETUNE/tvr_default/results_val/metrics.json \
        --tvqa FINETUNE/tvqa_default/results_val/metrics.json \
        --how2r FINETUNE/how2r_default/results_val/metrics.json \
        --how2qa FINETUNE/how2qa_default/results_val/metrics.json [--json] [--output table.md]

Columns: TVR R@1 / R@10 / R@100 (VCMR, tIoU 0.7), TVQA accuracy, How2R R@1 / R@10 / R@100, How2QA accuracy,
in percent. Several files for one dataset (seeds) give mean ± sample std. A dataset not given, or a file
that does not exist, is a blank cell (said on stderr); a file without the expected metrics is an error.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from evaluation.paper_table import (  # noqa: E402
    DATASETS,
    PUBLISHED_HERO,
    Cell,
    MetricsFileError,
    cells_from_metrics,
    mean_std,
    render_json,
    render_markdown,
)
from utils.atomic_io import atomic_write_text  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for dataset in DATASETS:
        parser.add_argument(f"--{dataset}", nargs="+", default=[], metavar="METRICS_JSON",
                            help=f"metrics.json of {dataset} evaluation runs (one per seed)")
    parser.add_argument("--name", default="this library", help="row label of these runs")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--no-published", action="store_true", help="leave out the published HERO figures")
    parser.add_argument("--output", help="also write the table to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cells: dict[str, Cell] = {}
    try:
        for dataset in DATASETS:
            runs: dict[str, list[Cell]] = {}
            for path in getattr(args, dataset):
                if not Path(path).is_file():
                    print(f"note: {path} does not exist: its {dataset} cells stay blank", file=sys.stderr)
                    continue
                for key, cell in cells_from_metrics(dataset, path).items():
                    runs.setdefault(key, []).append(cell)
            cells.update({key: mean_std(found) for key, found in runs.items()})
    except MetricsFileError as error:
        sys.exit(f"error: {error}")
    published = None if args.no_published else PUBLISHED_HERO
    rows = [(args.name, cells)]
    table = render_json(rows, published) if args.json else render_markdown(rows, published)
    print(table, end="")
    if args.output:
        atomic_write_text(Path(args.output), table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
