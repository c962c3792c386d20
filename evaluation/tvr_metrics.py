"""The official TVR evaluation (``tvr_standalone_eval.py`` semantics) and its prediction file.

Prediction file (what the TVR server and :func:`evaluate` read)::

    {"video2idx": {vid_name: idx}, "VCMR": [item, ...], "SVMR": [...], "VR": [...]}
    item = {"desc_id": int, "desc": str, "predictions": [[vid_idx, st_s, ed_s, score], ...]}

predictions sorted best first; the first 100 are used. Metrics, in percent (2 decimals):
- VCMR ``"{iou}-r{K}"``: queries with a top-K prediction on the GT video whose temporal IoU with the
  GT moment is ≥ iou, K ∈ {1, 5, 10, 100}, iou ∈ {0.5, 0.7} — IoU computed and compared in float32,
  as the official code (:func:`official_iou`);
- SVMR: the same over the predictions on the GT video only;
- VR ``"r{K}"``: the GT video is among the top-K predicted videos;
- with query types (TVR's v / t / vt), the same per type under ``"by_type"``.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

TASKS = ("VCMR", "SVMR", "VR")
RECALL_KS = (1, 5, 10, 100)
IOU_THRESHOLDS = (0.5, 0.7)
MAX_PREDICTIONS = 100


class PredictionFileError(ValueError):
    """A prediction file does not follow the official format; the message says where."""


# ------------------------------------------------------------------------------------------ file
def write_predictions(path: str | Path, video2idx: Mapping[str, int], results: Mapping[str, list]) -> None:
    """Write the official prediction file (``results``: task → list of items)."""
    data = {"video2idx": dict(video2idx), **{task: results[task] for task in TASKS if task in results}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def load_predictions(path: str | Path) -> dict[str, Any]:
    """Read and validate a prediction file; raises :class:`PredictionFileError` with the first problem."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise PredictionFileError(f"{path}: file not found") from None
    except json.JSONDecodeError as error:
        raise PredictionFileError(f"{path}: not JSON ({error})") from None
    validate_predictions(data, str(path))
    return data


def validate_predictions(data: Any, where: str = "predictions") -> None:
    if not isinstance(data, dict):
        raise PredictionFileError(f"{where}: expected a JSON object")
    video2idx = data.get("video2idx")
    if not isinstance(video2idx, dict) or not all(isinstance(v, int) for v in video2idx.values()):
        raise PredictionFileError(f"{where}: 'video2idx' must map video names to int indices")
    unknown = set(data) - {"video2idx", *TASKS}
    if unknown:
        raise PredictionFileError(f"{where}: unknown key(s) {sorted(unknown)}; expected video2idx and {TASKS}")
    if not any(task in data for task in TASKS):
        raise PredictionFileError(f"{where}: no prediction list; expected one of {TASKS}")
    known = set(video2idx.values())
    for task in TASKS:
        items = data.get(task, [])
        if not isinstance(items, list):
            raise PredictionFileError(f"{where}: {task} must be a list")
        for n, item in enumerate(items):
            at = f"{where}: {task}[{n}]"
            if not isinstance(item, dict) or not isinstance(item.get("desc_id"), int) \
                    or not isinstance(item.get("predictions"), list):
                raise PredictionFileError(f"{at}: expected {{'desc_id': int, 'desc': str, 'predictions': list}}")
            previous = math.inf
            for row in item["predictions"]:
                if (not isinstance(row, list) or len(row) != 4
                        or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in row)):
                    raise PredictionFileError(f"{at} (desc_id {item['desc_id']}): prediction {row!r} is not "
                                              "[vid_idx, st, ed, score]")
                if row[0] not in known:
                    raise PredictionFileError(f"{at} (desc_id {item['desc_id']}): video index {row[0]} "
                                              "is not in video2idx")
                if row[3] > previous:
                    raise PredictionFileError(f"{at} (desc_id {item['desc_id']}): predictions are not "
                                              "sorted best first")
                previous = row[3]


# --------------------------------------------------------------------------------------- metrics
def official_iou(spans: np.ndarray, gt_span: tuple[float, float]) -> np.ndarray:
    """IoU of (N, 2) predicted spans with one GT span, as the official evaluation computes it: float32
    arrays, intersection / (max end − min start), 0 where that is 0. The arithmetic matters: an IoU that
    is exactly 0.5 or 0.7 in real numbers can land on either side of the threshold in float64."""
    pred = np.asarray(spans, dtype=np.float32).reshape(-1, 2)
    gt = np.asarray(gt_span, dtype=np.float32)
    inter = np.maximum(np.float32(0), np.minimum(pred[:, 1], gt[1]) - np.maximum(pred[:, 0], gt[0]))
    union = np.maximum(pred[:, 1], gt[1]) - np.minimum(pred[:, 0], gt[0])
    return np.divide(inter, union, out=np.zeros_like(inter), where=union != 0)


def _hits(rows: list, gt_video: int, gt_span: tuple[float, float], ks: Iterable[int],
          thresholds: Iterable[float], need_moment: bool) -> dict[str, bool]:
    """Which recall cells one query hits, from its rows ``[vid, st, ed, score]`` (best first)."""
    rows_arr = np.asarray(rows[:MAX_PREDICTIONS], dtype=np.float64).reshape(-1, 4)
    on_video = rows_arr[:, 0] == gt_video
    out: dict[str, bool] = {}
    if not need_moment:
        for k in ks:
            out[f"r{k}"] = bool(on_video[:k].any())
        return out
    iou = official_iou(rows_arr[:, 1:3], gt_span)
    for thr in thresholds:
        good = on_video & (iou >= np.float32(thr))  # float32 against float32, as the official code
        for k in ks:
            out[f"{thr}-r{k}"] = bool(good[:k].any())
    return out


def _average(hit_rows: list[dict[str, bool]]) -> dict[str, float]:
    if not hit_rows:
        return {}
    # the official get_rounded_percentage: round(mean * 100, 2), in this order (100 * count / n can round
    # differently at a half)
    return {key: round(sum(h[key] for h in hit_rows) / len(hit_rows) * 100, 2) for key in hit_rows[0]}


def evaluate(predictions: Mapping[str, Any], ground_truth: Iterable[Mapping[str, Any]],
             by_type: bool = True) -> dict[str, Any]:
    """Official metrics of a prediction dict against ground truth records.

    Args:
        predictions: the prediction file's content (``video2idx`` + task lists).
        ground_truth: records with ``desc_id``, ``vid_name``, ``ts`` [st, ed] seconds and optionally
            ``type``; queries without predictions count as misses.
        by_type: add ``"by_type"`` {type: metrics} when the records carry a query type.

    Returns:
        {task: {metric: percent}} for each task present, plus ``"num_queries"`` and maybe ``"by_type"``.
    """
    video2idx = predictions["video2idx"]
    gt = [g for g in ground_truth if g.get("vid_name") is not None and g.get("ts") is not None]
    metrics: dict[str, Any] = {"num_queries": len(gt)}
    per_type: dict[str, dict[str, list]] = {}
    for task in TASKS:
        if task not in predictions:
            continue
        by_id = {item["desc_id"]: item["predictions"] for item in predictions[task]}
        hit_rows = []
        for record in gt:
            rows = by_id.get(int(record["desc_id"]), [])
            gt_video = video2idx.get(record["vid_name"], -1)
            hits = _hits(rows, gt_video, tuple(record["ts"]), RECALL_KS, IOU_THRESHOLDS, task != "VR")
            hit_rows.append(hits)
            if record.get("type"):
                per_type.setdefault(record["type"], {}).setdefault(task, []).append(hits)
        metrics[task] = _average(hit_rows)
    if by_type and per_type:
        metrics["by_type"] = {t: {task: _average(rows) for task, rows in tasks.items()}
                              for t, tasks in sorted(per_type.items())}
    return metrics
