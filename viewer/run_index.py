"""A run's evaluation outputs, indexed once for the viewer: moment retrieval (``inf_vcmr.py``, ``train_vsm.py
--eval-only``) or video QA (``train_videoQA.py --eval-only``) results of one split, joined with the query db's
ground truth and the subtitle db's text. Every request is then a lookup or a slice (TVR val: 10,895 queries).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data.dbs.subtitle_db import SubtitleDb
from evaluation.moment_decoding import temporal_iou

SOURCE_FILE = "source.json"  # written beside the predictions: which dbs they were made from


class RunIndexError(ValueError):
    """The run folder holds no results the viewer can show; the message says what is missing."""


@dataclass
class QueryRow:
    """One line of the query list."""

    id: str
    text: str
    type: str | None
    rank_05: int | None  # rank of the first correct moment at IoU 0.5 (None: not in the predictions)
    rank_07: int | None
    correct: bool | None = None  # QA: predicted answer is right


@dataclass
class RunIndex:
    kind: str                    # "moment" | "qa"
    split: str
    folder: Path                 # the results_<split> folder
    metrics: dict[str, Any]
    rows: list[QueryRow]
    records: dict[str, dict[str, Any]]        # query id → ground-truth record (query_data.jsonl)
    predictions: dict[str, Any]               # moment: id → VCMR rows; qa: id → answer index
    spans: dict[str, list[float]] = field(default_factory=dict)  # qa: id → predicted [st, ed]
    idx2video: dict[int, str] = field(default_factory=dict)
    subtitles: SubtitleDb | None = None
    durations: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------------------------------ listing
    def list_queries(self, text: str = "", status: str = "all", sort: str = "id", page: int = 1,
                     per_page: int = 50) -> dict[str, Any]:
        """A page of the query list: text search (case-insensitive), ``status`` hit/miss at IoU 0.5 / 0.7
        (``hit0.7``, ``miss0.5``, …; QA: ``correct`` / ``wrong``), sorted by id or by the rank of the GT."""
        rows = self.rows
        if text:
            needle = text.lower()
            rows = [r for r in rows if needle in r.text.lower() or needle == r.id]
        if status != "all":
            rows = [r for r in rows if _status_matches(r, status)]
        if sort == "rank":
            rows = sorted(rows, key=lambda r: (r.rank_07 is None, r.rank_07 or 0,
                                               r.rank_05 is None, r.rank_05 or 0))
        elif sort == "rank_desc":
            rows = sorted(rows, key=lambda r: (r.rank_07 is not None, -(r.rank_07 or 0)))
        page = max(page, 1)
        start = (page - 1) * per_page
        return {"total": len(rows), "page": page, "per_page": per_page,
                "items": [vars(r) for r in rows[start:start + per_page]]}

    # ------------------------------------------------------------------------------------ details
    def query(self, query_id: str, top_k: int = 10) -> dict[str, Any]:
        if query_id not in self.records:
            raise KeyError(query_id)
        record = self.records[query_id]
        if self.kind == "qa":
            return self._qa_detail(query_id, record)
        gt_video, gt_ts = record.get("vid_name"), record.get("ts")
        moments = []
        for rank, (vid_index, st, ed, score) in enumerate(self.predictions.get(query_id, [])[:top_k], 1):
            vid = self.idx2video.get(int(vid_index), str(vid_index))
            iou = _iou(gt_ts, [st, ed]) if vid == gt_video and gt_ts else None
            moments.append({"rank": rank, "video": vid, "st": st, "ed": ed, "score": score, "iou": iou})
        videos = {m["video"] for m in moments} | ({gt_video} if gt_video else set())
        return {"id": query_id, "kind": "moment", "text": record.get("desc", ""), "type": record.get("type"),
                "gt": {"video": gt_video, "ts": gt_ts} if gt_video else None,
                "moments": moments, "videos": {v: self.video(v) for v in sorted(videos)}}

    def video(self, vid: str) -> dict[str, Any]:
        """Duration and subtitles of one video (from the subtitle db when the run names one)."""
        return video_info(self.subtitles, vid, self.durations.get(vid))

    def _qa_detail(self, query_id: str, record: dict[str, Any]) -> dict[str, Any]:
        vid = record.get("vid_name")
        return {"id": query_id, "kind": "qa", "text": record.get("q", ""), "answers": record.get("answers", []),
                "predicted": self.predictions.get(query_id), "correct": record.get("answer_idx"),
                "pred_span": self.spans.get(query_id), "gt_span": record.get("ts"), "video": vid,
                "videos": {vid: self.video(vid)} if vid else {}}


def video_info(subtitles: SubtitleDb | None, vid: str, duration: float | None) -> dict[str, Any]:
    """``{"duration", "subtitles": [{"text", "start", "end"}]}`` of one video; the duration falls back to the
    subtitle db's frame count × seconds per frame."""
    subs: list[dict[str, Any]] = []
    if subtitles is not None and vid in subtitles:
        record = subtitles[vid]
        subs = [{"text": s["text"], "start": s["start"], "end": s["end"]} for s in record.get("sub", [])]
        if duration is None and record.get("num_frames") is not None:
            duration = record["num_frames"] * subtitles.frame_interval
    return {"duration": duration, "subtitles": subs}


def _iou(a: list[float], b: list[float]) -> float:
    return float(temporal_iou(np.array([a], dtype=np.float64), np.array([b], dtype=np.float64))[0, 0])


def _status_matches(row: QueryRow, status: str) -> bool:
    if status in ("correct", "wrong"):
        return row.correct is (status == "correct")
    kind, iou = status[:-3], status[-3:]
    rank = row.rank_05 if iou == "0.5" else row.rank_07
    return (rank is not None) == (kind == "hit")


def _first_correct(rows: list, gt_index: int | None, gt_ts: list[float] | None) -> tuple[int | None, int | None]:
    """1-based rank of the first prediction on the GT video with IoU ≥ 0.5 and ≥ 0.7 (None: none is)."""
    if gt_index is None or not gt_ts or not rows:
        return None, None
    table = np.asarray(rows, dtype=np.float64)
    iou = temporal_iou(np.array([gt_ts], dtype=np.float64), table[:, 1:3])[0]
    on_gt = table[:, 0] == gt_index
    ranks = []
    for threshold in (0.5, 0.7):
        hits = np.flatnonzero(on_gt & (iou >= threshold))
        ranks.append(int(hits[0]) + 1 if len(hits) else None)
    return ranks[0], ranks[1]


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunIndexError(f"{path}: {what} not found") from None
    except json.JSONDecodeError as error:
        raise RunIndexError(f"{path}: {what} is not JSON ({error})") from None


def find_results(run_dir: Path, split: str | None) -> Path:
    """The ``results_<split>`` folder of a run (the only one when ``split`` is None)."""
    if (run_dir / "predictions.json").is_file():
        return run_dir
    found = sorted(p for p in run_dir.glob("results_*") if (p / "predictions.json").is_file())
    if split is not None:
        found = [p for p in found if p.name == f"results_{split}"]
    if not found:
        raise RunIndexError(f"{run_dir}: no results_<split>/predictions.json"
                            + (f" for split {split!r}" if split else "")
                            + " (inf_vcmr.py, train_vsm.py --eval-only or train_videoQA.py --eval-only write them)")
    if len(found) > 1:
        names = ", ".join(p.name[len("results_"):] for p in found)
        raise RunIndexError(f"{run_dir}: several splits ({names}); choose one with --split")
    return found[0]


def sources(folder: Path) -> dict[str, Any]:
    """The dbs the predictions were made from: ``source.json`` beside them, else the run's ``log/hps.json``."""
    source = folder / SOURCE_FILE
    if source.is_file():
        return _read_json(source, "source file")
    hps = folder.parent / "log" / "hps.json"
    if hps.is_file():
        cfg = _read_json(hps, "run config")
        split = folder.name[len("results_"):]
        option = {"val": "val_query_txt_db", "test": "test_query_txt_db",
                  "test_public": "test_query_txt_db"}.get(split, "val_query_txt_db")
        return {"query_db": cfg.get(option), "sub_txt_db": cfg.get("sub_txt_db")}
    return {}


def load_run(run_dir: str | Path, split: str | None = None) -> RunIndex:
    """Index the results of ``run_dir`` (a run folder, or a ``results_<split>`` folder)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunIndexError(f"{run_dir}: not a folder")
    folder = find_results(run_dir, split)
    split = folder.name[len("results_"):] if folder.name.startswith("results_") else "val"
    raw = _read_json(folder / "predictions.json", "predictions file")
    metrics = _read_json(folder / "metrics.json", "metrics file") if (folder / "metrics.json").is_file() else {}
    source = sources(folder)
    records = _query_records(source.get("query_db"), folder, source.get("query_records"))
    sub_db = source.get("sub_txt_db")
    subtitles = SubtitleDb(sub_db) if sub_db and Path(sub_db).is_dir() else None
    if isinstance(raw, dict) and "video2idx" in raw:
        return _moment_index(folder, split, metrics, raw, records, subtitles)
    if isinstance(raw, dict) and all(isinstance(v, int) for v in raw.values()):
        spans = _read_json(folder / "predictions_spans.json", "span predictions") \
            if (folder / "predictions_spans.json").is_file() else {}
        return _qa_index(folder, split, metrics, raw, spans, records, subtitles)
    raise RunIndexError(f"{folder / 'predictions.json'}: neither moment-retrieval predictions (official TVR "
                        "format with video2idx) nor QA predictions ({qid: answer index})")


def _query_records(query_db: str | None, folder: Path, own_file: str | None = None) -> dict[str, dict[str, Any]]:
    """Ground truth by query id: the query db's ``query_data.jsonl``, or a file beside the results."""
    if own_file:
        path = folder / own_file
    elif query_db:
        path = Path(query_db) / "query_data.jsonl"
    else:
        return {}
    if not path.is_file():
        raise RunIndexError(f"{folder / SOURCE_FILE}: {path} not found (the query records of these results)")
    records = {}
    for line in path.read_text().splitlines():
        if line:
            rec = json.loads(line)
            records[str(rec.get("desc_id", rec.get("qid")))] = rec
    return records


def _moment_index(folder, split, metrics, raw, records, subtitles) -> RunIndex:
    where = folder / "predictions.json"
    video2idx, items = raw["video2idx"], raw.get("VCMR") or raw.get("SVMR") or []
    if not isinstance(video2idx, dict) or not isinstance(items, list):
        raise RunIndexError(f"{where}: video2idx must be an object and VCMR / SVMR lists (official TVR format)")
    for item in items:  # each row is checked as it is indexed below; here the fields every row needs
        if not isinstance(item, dict) or "desc_id" not in item or not isinstance(item.get("predictions"), list):
            raise RunIndexError(f"{where}: a VCMR item must have desc_id and a predictions list, got {str(item)[:80]}")
    predictions = {str(item["desc_id"]): item["predictions"] for item in items}
    rows = []
    for item in items:
        qid = str(item["desc_id"])
        record = records.setdefault(qid, {"desc_id": item["desc_id"], "desc": item.get("desc", "")})
        gt_index = video2idx.get(record.get("vid_name")) if record.get("vid_name") else None
        try:
            rank_05, rank_07 = _first_correct(item["predictions"], gt_index, record.get("ts"))
        except (ValueError, IndexError, TypeError):
            raise RunIndexError(f"{where}: desc_id {qid}: predictions must be [video index, start, end, score] "
                                "rows") from None
        rows.append(QueryRow(qid, record.get("desc", item.get("desc", "")), record.get("type"), rank_05, rank_07))
    durations = {r["vid_name"]: float(r["duration"]) for r in records.values()
                 if r.get("duration") and r.get("vid_name")}
    return RunIndex("moment", split, folder, metrics, rows, records, predictions,
                    idx2video={i: v for v, i in video2idx.items()}, subtitles=subtitles, durations=durations)


def _qa_index(folder, split, metrics, raw, spans, records, subtitles) -> RunIndex:
    rows = []
    for qid, answer in raw.items():
        record = records.setdefault(qid, {"qid": qid})
        correct = record.get("answer_idx")
        rows.append(QueryRow(qid, record.get("q", ""), None, None, None,
                             None if correct is None else int(answer) == int(correct)))
    return RunIndex("qa", split, folder, metrics, rows, records, dict(raw), spans={k: v for k, v in spans.items()},
                    subtitles=subtitles)
