"""HERO's paper table (TVR / How2R VCMR at tIoU 0.7, TVQA / How2QA accuracy) from evaluation metrics files.

STAND-IN: the minimal interface that issue #12 implements in full; dropped in favour of that version at merge.
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Column:
    """One table column: its key, header and where the value comes from (dataset, metric path)."""

    key: str
    header: str
    source: str


COLUMNS: tuple[Column, ...] = (
    Column("tvr_r1", "TVR R@1", "tvr:VCMR.0.7-r1"),
    Column("tvr_r10", "TVR R@10", "tvr:VCMR.0.7-r10"),
    Column("tvr_r100", "TVR R@100", "tvr:VCMR.0.7-r100"),
    Column("tvqa_acc", "TVQA acc.", "tvqa:accuracy"),
    Column("how2r_r1", "How2R R@1", "how2r:VCMR.0.7-r1"),
    Column("how2r_r10", "How2R R@10", "how2r:VCMR.0.7-r10"),
    Column("how2r_r100", "How2R R@100", "how2r:VCMR.0.7-r100"),
    Column("how2qa_acc", "How2QA acc.", "how2qa:accuracy"),
)
PUBLISHED_HERO: dict[str, float] = {}  # stand-in: issue #12 holds the paper's figures


@dataclass(frozen=True)
class Cell:
    """A value in percent, with its std over seeds and the metrics files it came from."""

    mean: float
    std: float | None = None
    sources: tuple[str, ...] = ()


def cells_from_metrics(dataset: str, metrics_file: str | Path) -> dict[str, Cell]:
    """The columns of ``dataset`` ("tvr", "how2r", "tvqa", "how2qa") read from one ``metrics.json``."""
    if dataset not in {"tvr", "how2r", "tvqa", "how2qa"}:
        raise ValueError(f"unknown dataset {dataset!r}: expected tvr, how2r, tvqa or how2qa")
    path = Path(metrics_file)
    metrics = json.loads(path.read_text(encoding="utf-8"))
    cells = {}
    for column in COLUMNS:
        name, key = column.source.split(":")
        if name != dataset:
            continue
        if key == "accuracy":
            if "accuracy" not in metrics:
                raise ValueError(f"{path}: no 'accuracy' (expected a QA metrics file)")
            value = 100.0 * float(metrics["accuracy"])
        else:
            task, metric = key.split(".", 1)
            try:
                value = float(metrics[task][metric])
            except KeyError:
                raise ValueError(f"{path}: no {task}/{metric} (expected a moment retrieval metrics file)") from None
        cells[column.key] = Cell(value, None, (str(path),))
    return cells


def mean_std(cells: list[Cell]) -> Cell:
    """Mean and sample std over seeds (std None for one seed); sources concatenated."""
    if not cells:
        raise ValueError("mean_std of no cells")
    values = [c.mean for c in cells]
    std = statistics.stdev(values) if len(values) > 1 else None
    return Cell(statistics.fmean(values), std, tuple(s for c in cells for s in c.sources))


def _text(cell: Cell | None) -> str:
    if cell is None:
        return "—"
    return f"{cell.mean:.2f}" if cell.std is None else f"{cell.mean:.2f} ± {cell.std:.2f}"


def render_markdown(rows: list[tuple[str, dict[str, Cell]]], published: dict[str, float] | None = None) -> str:
    """A markdown table: one line per row, the COLUMNS in order (— where a row has no value)."""
    lines = ["| | " + " | ".join(c.header for c in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, cells in rows:
        lines.append(f"| {name} | " + " | ".join(_text(cells.get(c.key)) for c in COLUMNS) + " |")
    if published:
        lines.append("| HERO (paper) | " + " | ".join(
            f"{published[c.key]:.2f}" if c.key in published else "—" for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def render_json(rows: list[tuple[str, dict[str, Cell]]], published: dict[str, float] | None = None) -> str:
    """The same table as JSON: columns, rows with mean / std / sources per cell, and the published row."""
    table = {
        "columns": [{"key": c.key, "header": c.header, "source": c.source} for c in COLUMNS],
        "rows": [{"name": name, "cells": {k: {"mean": v.mean, "std": v.std, "sources": list(v.sources)}
                                          for k, v in cells.items()}} for name, cells in rows],
        "published": dict(published or {}),
    }
    return json.dumps(table, indent=2) + "\n"
