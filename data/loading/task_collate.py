"""Per-task collation: examples (already masked / shuffled / sampled by the datasets) → typed batches.

Deterministic: every random choice (masking, reordering, query sampling) is made by the datasets,
so the same examples always give the same batch.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import torch

from data.loading.collate import MAX_TEXT_POSITION, VideoItem, collate_text, collate_videos, packed_text_mask, pad_rows
from model.inputs import FomBatch, MffrBatch, MfmBatch, MfmNceBatch, MlmBatch, RetrievalBatch, VideoQaBatch


@dataclass
class MlmExample:
    """One subtitle for MLM: its frames, its masked input ids (``[CLS]`` + tokens) and labels.

    ``labels[t]`` is the original id where ``input_ids[t]`` was masked, −1 elsewhere.
    """

    frame_feats: torch.Tensor  # (F, Dv)
    input_ids: Sequence[int]
    labels: Sequence[int]


def collate_mlm(examples: Sequence[MlmExample], pad_id: int,
                max_text_position: int = MAX_TEXT_POSITION) -> MlmBatch:
    """Each example is a one-subtitle sequence owning all its frames (§2.2)."""
    items = [VideoItem(ex.frame_feats, torch.zeros(len(ex.frame_feats), dtype=torch.long),
                       [ex.input_ids]) for ex in examples]
    video = collate_videos(items, pad_id, max_text_position=max_text_position)
    inputs = video.cross_modal
    labels, _ = pad_rows([ex.labels for ex in examples], -1)  # (S, T)
    frame_counts = torch.tensor([len(ex.frame_feats) for ex in examples], dtype=torch.long)
    target_mask = packed_text_mask(labels >= 0, frame_counts, inputs.attention_mask.shape[1])
    return MlmBatch(inputs=inputs, target_mask=target_mask, labels=labels[labels >= 0])


def collate_mfm(items: Sequence[VideoItem], frame_masks: Sequence[torch.Tensor], pad_id: int,
                batch_type: type[MfmBatch] = MfmNceBatch,
                max_text_position: int = MAX_TEXT_POSITION) -> MfmBatch:
    """Masked frame modelling: targets are the raw masked features, then those frames are zeroed."""
    clip_mask = torch.nn.utils.rnn.pad_sequence([m.bool() for m in frame_masks], batch_first=True)
    raw = torch.nn.utils.rnn.pad_sequence([item.frame_feats for item in items], batch_first=True)
    video = collate_videos(items, pad_id, clip_mfm_mask=clip_mask,
                           max_text_position=max_text_position)
    targets = raw[video.clip_mfm_mask]  # (M, Dv), (B, L) row-major like the model's selection
    if batch_type not in (MfmNceBatch, MffrBatch):
        raise TypeError(f"batch_type must be MfmNceBatch or MffrBatch, got {batch_type.__name__}")
    return batch_type(video=video, targets=targets)


def collate_fom(items: Sequence[VideoItem], orders: Sequence[torch.Tensor],
                targets: Sequence[torch.Tensor], pad_id: int,
                max_text_position: int = MAX_TEXT_POSITION) -> FomBatch:
    """Frame order modelling: pad ``order`` with the identity and ``targets`` with −1."""
    video = collate_videos(items, pad_id, max_text_position=max_text_position)
    num_videos, num_frames = video.clip_mask.shape
    order = torch.arange(num_frames).repeat(num_videos, 1)
    padded_targets = torch.full((num_videos, num_frames), -1, dtype=torch.long)
    lengths = torch.tensor([len(o) for o in orders], dtype=torch.long)
    real = torch.arange(num_frames)[None] < lengths[:, None]
    order[real] = torch.cat([o.long() for o in orders])
    padded_targets[real] = torch.cat([t.long() for t in targets])
    return FomBatch(video=video, order=order, targets=padded_targets)


def collate_retrieval(items: Sequence[VideoItem], queries: Sequence[Sequence[Sequence[int]]],
                      span_targets: Sequence[Sequence[Sequence[int]]], pad_id: int,
                      max_text_position: int = MAX_TEXT_POSITION) -> RetrievalBatch:
    """VSM / VCMR: ``queries[b]`` are the query id lists of video b (``[CLS]`` + tokens) and
    ``span_targets[b]`` their inclusive [start, end] frames. Queries are grouped by video."""
    video = collate_videos(items, pad_id, max_text_position=max_text_position)
    per_video = torch.tensor([len(q) for q in queries], dtype=torch.long)
    query_rows = list(chain.from_iterable(queries))
    targets = torch.tensor(list(chain.from_iterable(span_targets)), dtype=torch.long).view(-1, 2)
    return RetrievalBatch(
        video=video, queries=collate_text(query_rows, pad_id, max_text_position),
        query_video_index=torch.repeat_interleave(torch.arange(len(items)), per_video),
        span_targets=targets)


@dataclass
class QaExample:
    """One question on one clip: ``item`` holds the clip with its subtitle rows (``[SEP]`` + tokens)."""

    item: VideoItem
    question: Sequence[int]
    answers: Sequence[Sequence[int]]
    answer_target: int = -1               # −1 = unknown (test splits)
    span_target: tuple[int, int] = (-1, -1)  # inclusive frames, −1 = unknown


def collate_video_qa(examples: Sequence[QaExample], sep_id: int, pad_id: int,
                     max_text_position: int = MAX_TEXT_POSITION) -> VideoQaBatch:
    """Replicate each clip once per candidate with ``[SEP] q [SEP] a_k`` appended to every
    subtitle row, and the same QA text as the Temporal Transformer's extra input (§4.3)."""
    num_candidates = {len(ex.answers) for ex in examples}
    if len(num_candidates) != 1:
        raise ValueError(f"every question in a batch needs the same number of answers, "
                         f"got {sorted(num_candidates)}")
    # One replica per (question, candidate); the clip tensors are shared, not copied.
    items = [ex.item for ex in examples for _ in ex.answers]
    qa_rows = [[sep_id, *ex.question, sep_id, *answer] for ex in examples for answer in ex.answers]
    return VideoQaBatch(
        video=collate_videos(items, pad_id, max_text_position=max_text_position,
                             subtitle_suffix=qa_rows),
        qa_text=collate_text(qa_rows, pad_id, max_text_position),
        answer_targets=torch.tensor([ex.answer_target for ex in examples], dtype=torch.long),
        span_targets=torch.tensor([list(ex.span_target) for ex in examples], dtype=torch.long))
