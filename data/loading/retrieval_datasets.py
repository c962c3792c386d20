"""Video corpus moment retrieval datasets: training (query + its video) and evaluation (corpus videos,
queries) — hero-reference.md §4.1, §4.2.

Training batches are :class:`RetrievalBatch` with one query per video. Two queries of the same video in
one batch would be false negatives of each other's ranking loss (reference bug §8.7), so
:class:`VcmrDataset` exposes ``groups`` (the video of each query) and the sampler
(:class:`data.sampling.ShardedSampler`, used by ``TaskStream``) orders each epoch so that a batch holds
distinct videos — repeating one only when the epoch's remaining queries span fewer videos than a batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from data.dbs.corpus import VideoCorpus, frame_span_label, parse_span_seconds
from data.dbs.query_db import QueryDb
from data.loading.collate import VideoItem, collate_text, collate_videos
from data.loading.sampling import KeyedDataset
from data.loading.task_collate import collate_retrieval
from model.inputs import RetrievalBatch, TensorContainer, TextInputs, VideoInputs


def _query_db(query_db: QueryDb | str, corpus: VideoCorpus, qa: bool) -> QueryDb:
    db = query_db if isinstance(query_db, QueryDb) else QueryDb(query_db)
    if db.is_qa != qa:
        raise ValueError(f"{db.path} is a {'QA' if db.is_qa else 'retrieval'} db; "
                         f"this dataset needs a {'QA' if qa else 'retrieval'} db")
    corpus.check_tokenizer(db.meta, str(db.path))
    return db


class VcmrDataset(KeyedDataset):
    """VCMR training / loss validation: one item = one query + its video (§4.1).

    Query = ``[CLS]`` + tokens; label = :func:`data.dbs.corpus.frame_span_label` of ``ts``; the video's
    subtitles are not truncated (fine-tuning). With ``training``, queries longer than ``max_txt_len``
    and queries without a moment are dropped; queries whose video is not in the corpus are always
    dropped. ``dropped`` counts each reason.

    Args:
        corpus: the clips.
        query_db: a retrieval query db (reader or directory).
        max_txt_len: longest training query (None = no limit).
        training: apply the training filters.
        seed: example randomness seed (VCMR items have none; kept for a uniform interface).
    """

    stream_name = "vcmr"

    def __init__(self, corpus: VideoCorpus, query_db: QueryDb | str, max_txt_len: int | None = 60,
                 training: bool = True, seed: int = 0) -> None:
        super().__init__(seed)
        self.corpus, self.db = corpus, _query_db(query_db, corpus, qa=False)
        self.dropped = {"no_video": 0, "too_long": 0, "no_label": 0}
        self.query_ids: list[str] = []
        check_labels = training and not self.db.has_labels
        for qid in self.db.ids():
            vid = self.db.query2video.get(qid)
            if vid is None or vid not in corpus:
                self.dropped["no_video"] += 1
            elif training and max_txt_len is not None and self.db.id2len[qid] > max_txt_len:
                self.dropped["too_long"] += 1
            elif check_labels and parse_span_seconds(self.db[qid].get("ts")) is None:
                self.dropped["no_label"] += 1
            else:
                self.query_ids.append(qid)
        if not self.query_ids:
            raise ValueError(f"no usable query in {self.db.path} (dropped: {self.dropped})")
        self._groups = np.array([corpus.index_of(self.db.query2video[q]) for q in self.query_ids], np.int64)

    def __len__(self) -> int:
        return len(self.query_ids)

    @property
    def groups(self) -> np.ndarray:
        """Corpus index of each query's video (batches avoid repeating one)."""
        return self._groups

    def example(self, index: int, rng: np.random.Generator) -> tuple[VideoItem, list[list[int]], list[list[int]]]:
        qid = self.query_ids[index]
        record = self.db[qid]
        clip = self.corpus.clip(self.db.query2video[qid])
        span = frame_span_label(parse_span_seconds(record.get("ts")), len(clip.frame_owner),
                                self.corpus.frame_interval)
        query = [self.corpus.token_ids.cls, *record["input_ids"]]
        return self.corpus.make_item(clip), [query], [list(span)]

    def collate(self, examples: Sequence[tuple[VideoItem, list[list[int]], list[list[int]]]]) -> RetrievalBatch:
        items, queries, spans = zip(*examples)
        return collate_retrieval(items, queries, spans, self.corpus.token_ids.pad)


@dataclass
class CorpusVideoBatch(TensorContainer):
    """A batch of corpus videos to encode once for retrieval: names and inputs."""

    video: VideoInputs
    video_ids: list[str]


class VcmrVideoDataset(KeyedDataset):
    """Every video of a corpus split, for encoding the corpus once at evaluation (§4.2).

    Args:
        corpus: the clips.
        video_ids: the split's videos (default: every corpus video), in the order that defines their
            local index.
    """

    stream_name = "vcmr_videos"

    def __init__(self, corpus: VideoCorpus, video_ids: Sequence[str] | None = None) -> None:
        super().__init__(0)
        self.corpus = corpus
        self.video_ids = corpus.ids() if video_ids is None else list(video_ids)
        missing = [v for v in self.video_ids if v not in corpus]
        if missing:
            raise ValueError(f"{len(missing)} videos of the split are not in the corpus, e.g. {missing[0]!r}")

    def __len__(self) -> int:
        return len(self.video_ids)

    def example(self, index: int, rng: np.random.Generator) -> tuple[str, VideoItem]:
        vid = self.video_ids[index]
        return vid, self.corpus.video_item(vid)

    def collate(self, examples: Sequence[tuple[str, VideoItem]]) -> CorpusVideoBatch:
        vids, items = zip(*examples)
        return CorpusVideoBatch(video=collate_videos(items, self.corpus.token_ids.pad), video_ids=list(vids))


@dataclass
class QueryBatch(TensorContainer):
    """Evaluation queries with their ground truth (unknown: video None, spans −1 / NaN)."""

    queries: TextInputs
    query_ids: list[str]
    video_ids: list[str | None]
    span_targets: torch.Tensor  # (Q, 2) long inclusive frames, −1 = unknown
    span_seconds: torch.Tensor  # (Q, 2) float, NaN = unknown


class QuerySource(Protocol):
    """Evaluation queries that ``evaluation/vcmr_inference.py`` scores against a whole corpus: a keyed dataset
    of :class:`QueryBatch` plus each query's official record. Implemented by :class:`VcmrQueryDataset`
    (a query db) and ``data.loading.subtitle_queries.HeldoutSubtitleQueries`` (held-out subtitles)."""

    @property
    def db(self) -> QueryDb | None:
        """The query db (its ``video2idx.json`` fixes official video indices); None = corpus order."""

    @property
    def has_labels(self) -> bool:
        """Every query has its ground truth (video + moment): metrics can be computed."""

    def __len__(self) -> int: ...

    def __getitem__(self, key: Any) -> Any: ...

    def collate(self, examples: Sequence[Any]) -> QueryBatch: ...

    def record(self, index: int) -> Mapping[str, Any]:
        """Query ``index``'s ``desc_id``, ``desc`` and, when known, ``vid_name``, ``ts`` [st, ed] s, ``type``."""


class VcmrQueryDataset(KeyedDataset):
    """Every query of a retrieval db for evaluation (nothing is dropped): ``[CLS]`` + tokens + ground truth.

    Frame targets need the video's clip length, so they are −1 when the video is not in the corpus.
    A :class:`QuerySource`.
    """

    stream_name = "vcmr_queries"

    def __init__(self, corpus: VideoCorpus, query_db: QueryDb | str) -> None:
        super().__init__(0)
        self.corpus, self.db = corpus, _query_db(query_db, corpus, qa=False)
        self.query_ids = self.db.ids()

    def __len__(self) -> int:
        return len(self.query_ids)

    @property
    def has_labels(self) -> bool:
        return self.db.has_labels

    def record(self, index: int) -> Mapping[str, Any]:
        return self.db[self.query_ids[index]]

    def example(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        qid = self.query_ids[index]
        record = self.db[qid]
        vid = record.get("vid_name")
        seconds = parse_span_seconds(record.get("ts"))
        span = (frame_span_label(seconds, self.corpus.num_frames(vid), self.corpus.frame_interval)
                if vid in self.corpus else (-1, -1))
        return {"qid": qid, "ids": [self.corpus.token_ids.cls, *record["input_ids"]], "vid": vid,
                "span": span, "seconds": seconds if seconds is not None else (float("nan"),) * 2}

    def collate(self, examples: Sequence[dict[str, Any]]) -> QueryBatch:
        return collate_queries(examples, self.corpus.token_ids.pad)


def collate_queries(examples: Sequence[Mapping[str, Any]], pad_id: int) -> QueryBatch:
    """Evaluation query examples ``{"qid", "ids" ([CLS] + tokens), "vid", "span", "seconds"}`` → batch."""
    return QueryBatch(
        queries=collate_text([ex["ids"] for ex in examples], pad_id),
        query_ids=[ex["qid"] for ex in examples], video_ids=[ex["vid"] for ex in examples],
        span_targets=torch.tensor([ex["span"] for ex in examples], dtype=torch.long).view(-1, 2),
        span_seconds=torch.tensor([ex["seconds"] for ex in examples], dtype=torch.float32).view(-1, 2))
