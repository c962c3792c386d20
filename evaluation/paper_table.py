"""HERO's results table (Li et al., EMNLP 2020) from the metrics files of evaluation runs, beside the published
figures: TVR R@1 / R@10 / R@100 (VCMR, tIoU 0.7), TVQA accuracy, How2R R@1 / R@10 / R@100, How2QA accuracy.

Inputs are the ``results_<split>/metrics.json`` files this library writes (``inf_vcmr.py``:
``{"VCMR": {"0.7-r1": percent, …}}``; ``eval_videoQA.py`` / ``train_videoQA.py --eval-only``:
``{"accuracy": fraction}``). Several runs of one cell (seeds) become ``mean ± sample std``; a missing run is a
blank cell. Every value is in percent.
"""
from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Column:
    """One column: its key, its header and the dataset whose metrics fill it."""

    key: str
    header: str
    source: str


COLUMNS: tuple[Column, ...] = (
    Column("tvr_r1", "TVR R@1", "tvr"),
    Column("tvr_r10", "TVR R@10", "tvr"),
    Column("tvr_r100", "TVR R@100", "tvr"),
    Column("tvqa_acc", "TVQA Acc.", "tvqa"),
    Column("how2r_r1", "How2R R@1", "how2r"),
    Column("how2r_r10", "How2R R@10", "how2r"),
    Column("how2r_r100", "How2R R@100", "how2r"),
    Column("how2qa_acc", "How2QA Acc.", "how2qa"),
)
DATASETS = ("tvr", "how2r", "tvqa", "how2qa")
RETRIEVAL_METRICS = {"r1": "0.7-r1", "r10": "0.7-r10", "r100": "0.7-r100"}  # VCMR at tIoU 0.7
# HERO with pre-training, as Papers with Code lists the paper's figures (How2R is not listed there).
PUBLISHED_HERO: dict[str, float] = {"tvr_r1": 4.34, "tvr_r10": 13.97, "tvr_r100": 21.78, "tvqa_acc": 74.24,
                                    "how2qa_acc": 77.75}
PUBLISHED_ROW = "HERO (published)"


class MetricsFileError(ValueError):
    """A metrics file is missing a value the table needs; the message names the file and the key."""


@dataclass(frozen=True)
class Cell:
    """A table cell in percent: one run (``std`` None) or the mean and sample std of several."""

    mean: float
    std: float | None = None
    sources: tuple[str, ...] = ()


def cells_from_metrics(dataset: str, metrics_file: str | Path) -> dict[str, Cell]:
    """The cells one metrics file fills: VCMR tIoU 0.7 R@1/10/100 for ``tvr`` / ``how2r``, accuracy for
    ``tvqa`` / ``how2qa``, keyed by :class:`Column` key."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    path = Path(metrics_file)
    try:
        metrics = json.loads(path.read_text())
    except FileNotFoundError:
        raise MetricsFileError(f"{path}: metrics file not found") from None
    except (OSError, json.JSONDecodeError) as error:
        raise MetricsFileError(f"{path}: not a readable JSON metrics file ({error})") from None
    sources = (str(path),)
    if dataset in ("tvqa", "how2qa"):
        accuracy = metrics.get("accuracy") if isinstance(metrics, dict) else None
        if not _is_number(accuracy):
            raise MetricsFileError(f"{path}: no 'accuracy' (a {dataset} metrics file of eval_videoQA.py expected)")
        return {f"{dataset}_acc": Cell(100.0 * float(accuracy), None, sources)}
    vcmr = metrics.get("VCMR") if isinstance(metrics, dict) else None
    if not isinstance(vcmr, dict):
        raise MetricsFileError(f"{path}: no 'VCMR' metrics (a {dataset} metrics file of inf_vcmr.py expected)")
    out = {}
    for suffix, key in RETRIEVAL_METRICS.items():
        if not _is_number(vcmr.get(key)):
            raise MetricsFileError(f"{path}: VCMR has no '{key}'")
        out[f"{dataset}_{suffix}"] = Cell(float(vcmr[key]), None, sources)
    return out


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def mean_std(cells: list[Cell]) -> Cell:
    """Mean and sample standard deviation (n − 1) of several runs' cells; one cell keeps ``std`` None."""
    if not cells:
        raise ValueError("mean_std needs at least one cell")
    values = [c.mean for c in cells]
    std = statistics.stdev(values) if len(values) > 1 else None
    return Cell(statistics.fmean(values), std, tuple(s for c in cells for s in c.sources))


def _text(cell: Cell | None) -> str:
    if cell is None:
        return ""
    return f"{cell.mean:.2f}" if cell.std is None else f"{cell.mean:.2f} ± {cell.std:.2f}"


def _difference(cell: Cell | None, published: float | None) -> float | None:
    return None if cell is None or published is None else round(cell.mean - published, 2)


def render_markdown(rows: Sequence[tuple[str, Mapping[str, Cell]]],
                    published: Mapping[str, float] | None = None) -> str:
    """A Markdown table: one line per row, blank cells for missing runs; with ``published``, a
    "HERO (published)" line and, for each row, a line of differences (row − published) where both exist."""
    header = "| | " + " | ".join(c.header for c in COLUMNS) + " |"
    lines = [header, "|---|" + "---:|" * len(COLUMNS)]
    if published is not None:
        lines.append(f"| {PUBLISHED_ROW} | " + " | ".join(
            f"{published[c.key]:.2f}" if c.key in published else "" for c in COLUMNS) + " |")
    for name, cells in rows:
        lines.append(f"| {name} | " + " | ".join(_text(cells.get(c.key)) for c in COLUMNS) + " |")
        if published is not None:
            diffs = [_difference(cells.get(c.key), published.get(c.key)) for c in COLUMNS]
            lines.append(f"| Δ {name} − published | " + " | ".join(
                "" if d is None else f"{d:+.2f}" for d in diffs) + " |")
    return "\n".join(lines) + "\n"


def render_json(rows: Sequence[tuple[str, Mapping[str, Cell]]], published: Mapping[str, float] | None = None) -> str:
    """The same table as JSON: ``{"columns": [...], "published": {...} | null, "rows": [{"name", "cells":
    {key: {"mean", "std", "sources", "published", "difference"}}}]}`` (missing cells left out)."""
    out_rows = []
    for name, cells in rows:
        row = {}
        for column in COLUMNS:
            cell = cells.get(column.key)
            if cell is None:
                continue
            entry = {"mean": cell.mean, "std": cell.std, "sources": list(cell.sources)}
            if published is not None:
                entry["published"] = published.get(column.key)
                entry["difference"] = _difference(cell, published.get(column.key))
            row[column.key] = entry
        out_rows.append({"name": name, "cells": row})
    table = {"columns": [{"key": c.key, "header": c.header, "source": c.source} for c in COLUMNS],
             "published": dict(published) if published is not None else None, "rows": out_rows}
    return json.dumps(table, indent=2, ensure_ascii=False) + "\n"
