"""The files an evaluation leaves in ``<output_dir>/results_<split>/``, written the same way by every script.

- moment retrieval (VCMR / SVMR / VR; ``inf_vcmr.py``, ``train_vsm.py --eval-only``): ``predictions.json``
  in the official TVR format and, when the queries have labels, ``metrics.json``;
- video QA (``train_videoQA.py --eval-only``): ``predictions.json`` ({qid: answer index}),
  ``predictions_spans.json`` ({qid: [st, ed] seconds}) and, with labels, ``metrics.json``.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evaluation.qa_eval import QaEvaluation
from evaluation.tvr_metrics import write_predictions
from utils.atomic_io import atomic_write_text

Log = Callable[[str], None]


def results_dir(output_dir: str | Path, split: str) -> Path:
    return Path(output_dir) / f"results_{split}"


def write_source(out: Path, **paths: Any) -> None:
    """``source.json``: the dbs (and checkpoint) the results were made from, for ``scripts/view_results.py``."""
    atomic_write_text(out / "source.json", json.dumps({k: (str(v) if v is not None else None)
                                                       for k, v in paths.items()}, indent=2))


def write_ground_truth(out: Path, records: list[dict[str, Any]]) -> str:
    """``ground_truth.jsonl`` for queries that live in no query db (held-out subtitles); returns its name."""
    atomic_write_text(out / "ground_truth.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    return "ground_truth.jsonl"


def write_moment_results(out: Path, predictions: dict[str, Any], metrics: dict[str, Any] | None, log: Log) -> None:
    write_predictions(out / "predictions.json", predictions["video2idx"], predictions)
    count = max((len(items) for task, items in predictions.items() if task != "video2idx"), default=0)
    log(f"wrote {out / 'predictions.json'} ({count} queries)")
    if metrics is not None:
        atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
        log(json.dumps({task: metrics[task] for task in ("VCMR", "SVMR", "VR") if task in metrics}))


def write_qa_results(out: Path, split: str, result: QaEvaluation, log: Log) -> None:
    atomic_write_text(out / "predictions.json", json.dumps(result.predictions))
    atomic_write_text(out / "predictions_spans.json", json.dumps(result.spans))
    log(f"{len(result.predictions)} predictions written to {out}")
    if result.metrics:
        atomic_write_text(out / "metrics.json", json.dumps(result.metrics, indent=2))
        temporal = result.metrics.get("temporal", {})
        log(f"{split}: accuracy {100 * result.metrics['accuracy']:.2f} % over {result.metrics['count']}"
            + (f"; temporal mean IoU {temporal['mean_iou']:.4f}, IoU>=0.5 {100 * temporal['iou_ge_0.5']:.2f} %"
               if temporal else ""))
