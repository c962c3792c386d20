"""Video QA evaluation (TVQA, TVQA+, How2QA): answer predictions, predicted spans and their metrics.

Predictions use the leaderboard format ``{qid: answer_idx}`` (hero-reference.md §4.3: argmax over the
candidates' logits). The start/end head also gives one span per question: the frame pair
``(s, e)``, ``e ≥ s``, maximising ``P_st(s) · P_ed(e)``, reported in seconds as
``[s · fl, (e + 1) · fl]`` (the inverse of :func:`data.corpus.frame_span_label`, whose end frame is
inclusive).

With labels: accuracy overall, per show (TVQA ``show_name``) and per question type, plus the temporal
IoU of the predicted span with the annotated ``ts`` (mean and share ≥ 0.5) over the questions that have
one. Metrics are computed from the merged predictions of every rank, so a distributed evaluation gives
exactly the numbers of one process.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from data.dbs.corpus import parse_span_seconds
from data.loading.qa_datasets import VideoQaDataset
from utils.distributed import Distributed
from utils.precision import Precision
from utils.trainer import unwrap

QUESTION_TYPES = ("what", "who", "why", "where", "how", "which", "when")
IOU_THRESHOLD = 0.5


def question_type(question: str) -> str:
    """The question's type: its first word, lower-cased, stripped of non-letters, when that word is one
    of :data:`QUESTION_TYPES`; ``"other"`` otherwise.

    Only the first word counts, so "How many ..." is ``how`` and "Whose ..." / "Is Sheldon ..." /
    "After Amy leaves, what ..." are ``other``: the rule is simple, deterministic and needs no parser.
    """
    words = question.split()
    first = re.sub(r"[^a-z]", "", words[0].lower()) if words else ""
    return first if first in QUESTION_TYPES else "other"


def best_spans(st_logits: torch.Tensor, ed_logits: torch.Tensor) -> torch.Tensor:
    """(B, L) start/end logits (padding already masked) → (B, 2) frame pairs ``s ≤ e`` maximising
    ``P_st(s) · P_ed(e)``; computed in log space (a sum) to avoid underflow on long clips."""
    log_st = torch.log_softmax(st_logits.float(), dim=-1)
    log_ed = torch.log_softmax(ed_logits.float(), dim=-1)
    scores = log_st.unsqueeze(2) + log_ed.unsqueeze(1)  # (B, L_st, L_ed)
    band = torch.ones(scores.shape[1:], dtype=torch.bool, device=scores.device).triu()  # e ≥ s
    flat = scores.masked_fill(~band, float("-inf")).flatten(1).argmax(dim=1)
    length = scores.shape[-1]
    return torch.stack([flat // length, flat % length], dim=1)


def frames_to_seconds(start: int, end: int, frame_interval: float) -> list[float]:
    """Inclusive frame pair → ``[start, end)`` seconds."""
    return [round(start * frame_interval, 3), round((end + 1) * frame_interval, 3)]


def temporal_iou(a: Iterable[float], b: Iterable[float]) -> float:
    """IoU of two ``[st, ed]`` intervals in seconds (0 when disjoint or both empty)."""
    (a0, a1), (b0, b1) = a, b
    inter = max(0.0, min(a1, b1) - max(a0, b0))
    union = max(a1, b1) - min(a0, b0)
    return inter / union if union > 0 else 0.0


@dataclass
class QaEvaluation:
    """One split's results: what the prediction files hold, and the metrics when labels exist."""

    predictions: dict[str, int]               # qid → predicted answer index
    spans: dict[str, list[float]]             # qid → predicted [st, ed] seconds
    metrics: dict[str, Any] = field(default_factory=dict)  # empty without labels

    def summary(self) -> dict[str, float]:
        """Flat scalars for the training log / best-checkpoint choice."""
        if not self.metrics:
            return {}
        out = {"acc": self.metrics["accuracy"]}
        temporal = self.metrics.get("temporal")
        if temporal:
            out.update(mean_iou=temporal["mean_iou"], iou_ge_0_5=temporal["iou_ge_0.5"])
        return out


def qa_metrics(predictions: Mapping[str, int], spans: Mapping[str, list[float]],
               records: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Accuracy (overall, per show, per question type) and temporal IoU against labelled ``records``.

    Args:
        predictions: qid → predicted answer index.
        spans: qid → predicted [st, ed] seconds.
        records: qid → query-db record (``q``, ``answer_idx``, ``ts``, optional ``show_name``).

    Returns:
        ``{}`` when no predicted question has an answer label, else a JSON-ready dict.
    """
    hits: dict[str, list[int]] = {}      # group → [correct, total]
    by_show: dict[str, list[int]] = {}
    by_type: dict[str, list[int]] = {}
    ious: list[float] = []
    for qid, predicted in predictions.items():
        record = records[qid]
        label = record.get("answer_idx")
        if label is not None:
            correct = int(int(predicted) == int(label))
            for table, key in ((hits, "all"), (by_type, question_type(record.get("q", "")))):
                table.setdefault(key, [0, 0])
                table[key][0] += correct
                table[key][1] += 1
            if record.get("show_name"):
                by_show.setdefault(record["show_name"], [0, 0])
                by_show[record["show_name"]][0] += correct
                by_show[record["show_name"]][1] += 1
        truth = parse_span_seconds(record.get("ts"))
        if truth is not None and qid in spans:
            ious.append(temporal_iou(spans[qid], truth))
    if "all" not in hits:
        return {}

    def table(groups: dict[str, list[int]]) -> dict[str, dict[str, float]]:
        return {k: {"accuracy": c / n, "count": n} for k, (c, n) in sorted(groups.items())}

    correct, total = hits["all"]
    metrics: dict[str, Any] = {"accuracy": correct / total, "count": total, "by_type": table(by_type)}
    if by_show:
        metrics["by_show"] = table(by_show)
    if ious:
        metrics["temporal"] = {"mean_iou": sum(ious) / len(ious),
                               "iou_ge_0.5": sum(i >= IOU_THRESHOLD for i in ious) / len(ious),
                               "count": len(ious)}
    return metrics


@torch.no_grad()
def predict_rank(model: nn.Module, dataset: VideoQaDataset, batch_size: int, dist: Distributed,
                 precision: str = "fp32") -> list[tuple[str, int, list[float]]]:
    """This rank's share of ``dataset``: ``(qid, answer index, [st, ed] seconds)`` per question.

    The questions are cut into the same contiguous batches whatever the number of ranks, and rank r takes
    batches r, r + world_size, …: every batch is computed exactly as in a single process, so N processes give
    byte-identical predictions (sharding single questions changed the batches' padding, and near-tied answer
    logits could then flip). ``precision`` is the run's (autocast as in training).
    """
    net = unwrap(model)
    was_training = net.training
    net.eval()
    rows: list[tuple[str, int, list[float]]] = []
    interval = dataset.corpus.frame_interval
    autocast = Precision(precision, dist.device).autocast
    size = len(dataset)
    batches = [list(range(s, min(s + batch_size, size))) for s in range(0, size, batch_size)]
    batches = batches[dist.rank::dist.world_size]
    try:
        loader = DataLoader(dataset, batch_sampler=batches, collate_fn=dataset.collate)
        for indices, batch in zip(batches, loader):
            with autocast():
                out = net(batch.to(dist.device))
            answers = out.logits.float().argmax(dim=-1).tolist()
            frames = best_spans(out.st_logits, out.ed_logits).tolist()
            for index, answer, (start, end) in zip(indices, answers, frames):
                rows.append((dataset.question_ids[index], int(answer), frames_to_seconds(start, end, interval)))
    finally:
        net.train(was_training)
    return rows


def evaluate_qa(model: nn.Module, dataset: VideoQaDataset, batch_size: int, dist: Distributed,
                precision: str = "fp32") -> QaEvaluation:
    """Predict every question of ``dataset`` (split over ranks), gather, and score when labelled.

    Every rank returns the same :class:`QaEvaluation`.
    """
    rows = [row for part in dist.all_gather_object(predict_rank(model, dataset, batch_size, dist,
                                                                precision))
            for row in part]
    order = {qid: i for i, qid in enumerate(dataset.question_ids)}
    rows.sort(key=lambda row: order[row[0]])  # dataset order, whatever the number of ranks
    predictions = {qid: answer for qid, answer, _ in rows}
    spans = {qid: span for qid, _, span in rows}
    records = {qid: _label_fields(dataset.db[qid]) for qid in predictions}
    return QaEvaluation(predictions, spans, qa_metrics(predictions, spans, records))


def _label_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record fields the metrics read (drops the token ids)."""
    return {k: record.get(k) for k in ("q", "answer_idx", "ts", "show_name")}
