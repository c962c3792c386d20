"""Held-out subtitles as retrieval queries, for adapting HERO to a new corpus of videos with subtitles.

``train_vsm.py`` holds out a seeded share of each video's subtitles (:func:`select_heldout_subtitles`).
The corpus view :meth:`VideoCorpus.with_hidden_subtitles` removes their text from every input (training
and evaluation), so VSM training, whose queries are the visible subtitles, never reads them;
:class:`HeldoutSubtitleQueries` turns them into evaluation queries scored like TVR: query = the
subtitle's tokens, target = (its video, its start/end seconds), ``desc_id`` = video index ×
:data:`DESC_ID_STRIDE` + subtitle index (video index = position in the sorted corpus, as the
predictions' ``video2idx``).
"""

from __future__ import annotations

import zlib
from collections.abc import Collection, Mapping, Sequence
from itertools import groupby
from typing import Any

import numpy as np

from data.dbs.corpus import ClipLayout, VideoCorpus, frame_span_label
from data.loading.retrieval_datasets import QueryBatch, collate_queries
from data.loading.sampling import KeyedDataset

DESC_ID_STRIDE = 10_000  # desc_id = video index * stride + subtitle index


def stable_unit(seed: int, salt: str, vid: str, index: int) -> float:
    """A number in [0, 1) from crc32 of (seed, salt, vid, index): the same in every process and run
    (Python's ``hash`` is salted per process)."""
    return zlib.crc32(f"{seed}|{salt}|{vid}|{index}".encode()) / 2**32


def stable_units(seed: int, salt: str, vid: str, count: int) -> np.ndarray:
    """(count,) :func:`stable_unit` of subtitle indices 0 … count − 1."""
    return np.array([stable_unit(seed, salt, vid, i) for i in range(count)], dtype=np.float64)


def eligible_subtitles(layout: ClipLayout) -> np.ndarray:
    """(S,) bool: the kept subtitles that can be queries, i.e. with text and owning ≥ 1 frame of the clip
    (the VSM query candidates)."""
    owner = layout.frame_owner
    framed = np.bincount(owner[owner >= 0], minlength=layout.num_subs) > 0
    texted = np.fromiter((len(t) > 0 for t in layout.tokens), dtype=bool, count=layout.num_subs)
    return framed & texted


def heldout_mask(eligible: np.ndarray, units: np.ndarray, ratio: float) -> np.ndarray:
    """(S,) bool: eligible subtitles whose unit is below ``ratio``, except that a video always keeps one
    eligible subtitle visible (the one with the largest unit), so that it still has a training query."""
    held = eligible & (units < ratio)
    if eligible.any() and not (eligible & ~held).any():
        candidates = np.flatnonzero(eligible)
        held[candidates[np.argmax(units[candidates])]] = False
    return held


def select_heldout_subtitles(corpus: VideoCorpus, ratio: float, seed: int) -> dict[str, tuple[int, ...]]:
    """The subtitles to hold out, ``{vid: sorted subtitle indices}`` (videos with none are left out).

    Each eligible subtitle (:func:`eligible_subtitles`) is held out when
    ``stable_units(seed, "heldout", vid, S)[index] < ratio`` — a fraction ``ratio`` in expectation,
    deterministic, independent of the corpus order — with one subtitle per video kept visible
    (:func:`heldout_mask`). Reads every subtitle record once.
    """
    if not 0 <= ratio < 1:
        raise ValueError(f"heldout_subtitle_ratio must be in [0, 1), got {ratio}")
    if ratio == 0:
        return {}
    heldout = {}
    for vid in corpus.ids():
        layout = corpus.layout(vid)
        held = heldout_mask(eligible_subtitles(layout), stable_units(seed, "heldout", vid, layout.num_subs), ratio)
        if held.any():
            heldout[vid] = tuple(np.flatnonzero(held).tolist())
    return heldout


class HeldoutSubtitleQueries(KeyedDataset):
    """Held-out subtitles as evaluation queries, in ``desc_id`` order (a ``QuerySource``).

    Query = ``[CLS]`` + the subtitle's tokens (≤ ``corpus.max_txt_len``, as VSM training queries); ground
    truth = its video and ``[start, end]`` seconds from the subtitle db.

    Args:
        corpus: the clips (normally the view hiding these subtitles).
        heldout: ``{vid: subtitle indices}``, e.g. from :func:`select_heldout_subtitles`.
        max_queries: keep a fixed subset of at most this many queries (0 = all), chosen by
            ``stable_units(seed, "eval", …)``.
        seed: seed of that subset.
    """

    stream_name = "heldout_subtitles"
    db = None  # no query db: official video indices = the sorted corpus order
    has_labels = True

    def __init__(self, corpus: VideoCorpus, heldout: Mapping[str, Collection[int]], max_queries: int = 0,
                 seed: int = 0) -> None:
        super().__init__(0)
        self.corpus = corpus
        self.video2idx = {vid: i for i, vid in enumerate(sorted(corpus.ids()))}
        unknown = [vid for vid in heldout if vid not in self.video2idx]
        if unknown:
            raise ValueError(f"{len(unknown)} videos with held-out subtitles are not in the corpus, "
                             f"e.g. {unknown[0]!r}")
        names = sorted(self.video2idx)
        chosen = sorted((self.video2idx[vid], int(i)) for vid, subs in heldout.items() for i in subs)
        if 0 < max_queries < len(chosen):
            units = np.array([stable_unit(seed, "eval", names[v], i) for v, i in chosen])
            chosen = [chosen[k] for k in np.sort(np.argsort(units, kind="stable")[:max_queries])]
        self.vids: list[str] = []
        self.texts: list[str] = []
        self.tokens: list[list[int]] = []
        seconds: list[tuple[float, float]] = []
        for v, group in groupby(chosen, key=lambda pair: pair[0]):
            vid = names[v]
            record, kept = corpus.subtitles[vid], corpus.layout(vid).num_subs
            for _, i in group:
                if not 0 <= i < min(kept, DESC_ID_STRIDE):
                    raise ValueError(f"video {vid!r}: held-out subtitle {i} is not one of its {kept} kept "
                                     "subtitles")
                sub = record["sub"][i]
                self.vids.append(vid)
                self.texts.append(str(sub.get("text", "")))
                self.tokens.append(list(record["input_ids"][i][: corpus.max_txt_len]))
                seconds.append((float(sub["start"]), float(sub["end"])))
        self.sub_index = np.array([i for _, i in chosen], dtype=np.int64)
        self.desc_ids = np.array([v * DESC_ID_STRIDE + i for v, i in chosen], dtype=np.int64)
        self.seconds = np.array(seconds, dtype=np.float64).reshape(-1, 2)  # (Q, 2)
        self.query_ids = [str(d) for d in self.desc_ids.tolist()]

    def __len__(self) -> int:
        return len(self.query_ids)

    def heldout(self) -> dict[str, tuple[int, ...]]:
        """``{vid: subtitle indices}`` of the queries (after ``max_queries``)."""
        out: dict[str, list[int]] = {}
        for vid, i in zip(self.vids, self.sub_index.tolist()):
            out.setdefault(vid, []).append(i)
        return {vid: tuple(subs) for vid, subs in out.items()}

    def example(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        vid = self.vids[index]
        seconds = tuple(self.seconds[index].tolist())
        span = frame_span_label(seconds, self.corpus.num_frames(vid), self.corpus.frame_interval)
        return {"qid": self.query_ids[index], "ids": [self.corpus.token_ids.cls, *self.tokens[index]],
                "vid": vid, "span": span, "seconds": seconds}

    def collate(self, examples: Sequence[dict[str, Any]]) -> QueryBatch:
        return collate_queries(examples, self.corpus.token_ids.pad)

    def record(self, index: int) -> dict[str, Any]:
        return {"desc_id": int(self.desc_ids[index]), "desc": self.texts[index], "vid_name": self.vids[index],
                "ts": self.seconds[index].tolist(), "type": None}
