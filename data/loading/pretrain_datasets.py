"""Pre-training datasets: MLM, MFM (NCE / MFFR), FOM and VSM, one item per video (hero-reference.md §2.2–2.7).

Every item is a pure function of its sampler key (see :mod:`data.sampling`); masking is vectorised
with numpy over all tokens / frames of the video. ``collate`` turns a list of items (one per video of
the batch) into the typed batch of ``model/inputs.py`` with the collate functions of
:mod:`data.task_collate`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from data.dbs.corpus import Clip, TokenIds, VideoCorpus
from data.loading.collate import VideoItem
from data.loading.sampling import KeyedDataset
from data.loading.significant_words import SignificantWords, mssm_mask_tokens
from data.loading.task_collate import MlmExample, collate_fom, collate_mfm, collate_mlm, collate_retrieval
from model.inputs import FomBatch, MffrBatch, MfmBatch, MfmNceBatch, MlmBatch, RetrievalBatch

# --------------------------------------------------------------------------------------------------
# random rules (pure functions of an rng)


def mask_tokens(tokens: np.ndarray, lengths: np.ndarray, rng: np.random.Generator, mask_prob: float,
                ids: TokenIds) -> tuple[np.ndarray, np.ndarray]:
    """BERT masking of several sequences at once (reference ``random_word``, §2.2).

    Each token is selected with p = ``mask_prob``; a selected token becomes ``[MASK]`` (80 %), a random
    id from ``ids.word_range`` (10 %) or stays (10 %). A sequence with no selected token gets its first
    token forced to ``[MASK]``. Empty sequences stay empty.

    Args:
        tokens: all sequences concatenated, int64.
        lengths: (S,) length of each sequence.

    Returns:
        ``(inputs, labels)`` flat like ``tokens``; ``labels`` = original id where selected, −1 elsewhere.
    """
    num = len(tokens)
    selected = rng.random(num) < mask_prob
    action = rng.random(num)
    inputs = tokens.copy()
    inputs[selected & (action < 0.8)] = ids.mask
    replace = selected & (action >= 0.8) & (action < 0.9)
    inputs[replace] = rng.integers(*ids.word_range, size=int(replace.sum()))
    sequence = np.repeat(np.arange(len(lengths)), lengths)
    has_selection = np.bincount(sequence[selected], minlength=len(lengths)) > 0
    starts = np.cumsum(lengths) - lengths
    forced = starts[~has_selection & (lengths > 0)]
    selected[forced] = True
    inputs[forced] = ids.mask
    return inputs, np.where(selected, tokens, -1)


def mask_frames(num_frames: int, rng: np.random.Generator, mask_prob: float) -> np.ndarray:
    """MFM mask (§2.3): each frame with p = ``mask_prob``, at least one forced. (n,) bool."""
    mask = rng.random(num_frames) < mask_prob
    if not mask.any():
        mask[rng.integers(num_frames)] = True
    return mask


def reorder_frames(num_frames: int, rng: np.random.Generator, reorder_prob: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """FOM shuffle (reference ``random_reorder``, §2.7).

    Each frame is selected with p = ``reorder_prob``; at least ``min(2, n)`` frames are selected (extra
    ones drawn uniformly among the others) so that every clip carries an ordering target — the reference
    could select none, leaving a batch without a loss. The selected frames are permuted among themselves.

    Returns:
        ``order`` (n,): new position of frame i (identity when unselected); ``target`` (n,):
        ``target[order[i]] = i`` for selected i (even when ``order[i] == i``), −1 elsewhere.
    """
    selected = np.flatnonzero(rng.random(num_frames) < reorder_prob)
    need = min(2, num_frames) - len(selected)
    if need > 0:
        others = np.setdiff1d(np.arange(num_frames), selected)
        selected = np.sort(np.concatenate([selected, rng.choice(others, size=need, replace=False)]))
    shuffled = rng.permutation(selected)
    order = np.arange(num_frames)
    order[selected] = shuffled
    target = np.full(num_frames, -1, dtype=np.int64)
    target[shuffled] = selected
    return order, target


# --------------------------------------------------------------------------------------------------
# datasets


class VideoTaskDataset(KeyedDataset):
    """Base of the per-video pre-training datasets.

    Args:
        corpus: the clips.
        video_ids: videos to use (default: every video of the corpus); filtered per task.
        mask_prob: masking / reordering probability.
        seed: example randomness seed.
        truncate_text: cut each subtitle to ``corpus.max_txt_len`` (pre-training does, §3.6).
    """

    def __init__(self, corpus: VideoCorpus, video_ids: Sequence[str] | None = None, mask_prob: float = 0.15,
                 seed: int = 0, truncate_text: bool = True) -> None:
        super().__init__(seed)
        if not 0 < mask_prob <= 1:
            raise ValueError(f"mask_prob must be in (0, 1], got {mask_prob}")
        self.corpus, self.mask_prob, self.truncate_text = corpus, mask_prob, truncate_text
        ids = corpus.ids() if video_ids is None else list(video_ids)
        unknown = [v for v in ids if v not in corpus]
        if unknown:
            raise ValueError(f"{len(unknown)} videos not in the corpus, e.g. {unknown[0]!r}")
        keep = self._usable(ids)
        self.video_ids = [v for v, k in zip(ids, keep) if k]
        self.num_skipped = len(ids) - len(self.video_ids)
        if not self.video_ids:
            raise ValueError(f"{type(self).__name__}: none of the {len(ids)} videos is usable")

    def _usable(self, ids: list[str]) -> list[bool]:
        return [True] * len(ids)

    def __len__(self) -> int:
        return len(self.video_ids)

    @property
    def pad(self) -> int:
        """Text padding id."""
        return self.corpus.token_ids.pad


class MlmDataset(VideoTaskDataset):
    """MLM (§2.2): one example per subtitle with text; ``[CLS]`` + masked (context) tokens + its frames.

    Subtitles without tokens have nothing to predict and are left out (videos with none are skipped at
    construction, see ``num_skipped``). A batch is every subtitle of ``batch_size`` videos.
    """

    stream_name = "mlm"

    def __init__(self, corpus: VideoCorpus, video_ids: Sequence[str] | None = None, mask_prob: float = 0.15,
                 seed: int = 0, truncate_text: bool = True, significant_words: SignificantWords | None = None) -> None:
        # With a significant-word table: SNP-S3's MSSM masking (mssm_mask_tokens) instead of BERT's.
        self.significant_words = significant_words
        super().__init__(corpus, video_ids, mask_prob, seed, truncate_text)

    def _usable(self, ids: list[str]) -> list[bool]:
        stats = self.corpus.subtitle_stats()
        return [bool(stats["subs_with_tokens"][self.corpus.index_of(v)] > 0) for v in ids]

    def example(self, index: int, rng: np.random.Generator) -> list[MlmExample]:
        clip = self.corpus.clip(self.video_ids[index])
        texts = self.corpus.subtitle_texts(clip, truncate_text=self.truncate_text)
        rows = [i for i, t in enumerate(texts) if t]
        lengths = np.array([len(texts[i]) for i in rows], dtype=np.int64)
        flat = np.concatenate([np.asarray(texts[i], dtype=np.int64) for i in rows])
        ids = self.corpus.token_ids
        if self.significant_words is None:
            inputs, labels = mask_tokens(flat, lengths, rng, self.mask_prob, ids)
        else:
            inputs, labels = mssm_mask_tokens(flat, lengths, rng, self.mask_prob, ids, self.significant_words)
        splits = np.cumsum(lengths)[:-1]
        frames = clip.owned_frames()
        # index_select: advanced indexing of a small tensor costs ~ms under intra-op threading
        return [MlmExample(frame_feats=clip.frame_feats.index_select(0, torch.from_numpy(frames[i])),
                           input_ids=[ids.cls, *inp.tolist()], labels=[-1, *lab.tolist()])
                for i, inp, lab in zip(rows, np.split(inputs, splits), np.split(labels, splits))]

    def collate(self, examples: Sequence[list[MlmExample]]) -> MlmBatch:
        return collate_mlm([ex for video in examples for ex in video], self.pad)


class MfmDataset(VideoTaskDataset):
    """Masked frame modelling (§2.3): the clip plus a frame mask with ≥ 1 masked frame.

    Args:
        batch_type: :class:`MfmNceBatch` (MFM-NCE) or :class:`MffrBatch` (MFFR).
        (others as :class:`VideoTaskDataset`)
    """

    def __init__(self, corpus: VideoCorpus, video_ids: Sequence[str] | None = None, mask_prob: float = 0.15,
                 seed: int = 0, truncate_text: bool = True, batch_type: type[MfmBatch] = MfmNceBatch) -> None:
        if batch_type not in (MfmNceBatch, MffrBatch):
            raise TypeError(f"batch_type must be MfmNceBatch or MffrBatch, got {batch_type!r}")
        self.batch_type = batch_type
        self.stream_name = "mfm_nce" if batch_type is MfmNceBatch else "mffr"
        super().__init__(corpus, video_ids, mask_prob, seed, truncate_text)

    def example(self, index: int, rng: np.random.Generator) -> tuple[VideoItem, torch.Tensor]:
        item = self.corpus.video_item(self.video_ids[index], truncate_text=self.truncate_text)
        return item, torch.from_numpy(mask_frames(len(item.frame_feats), rng, self.mask_prob))

    def collate(self, examples: Sequence[tuple[VideoItem, torch.Tensor]]) -> MfmBatch:
        items, masks = zip(*examples)
        return collate_mfm(items, masks, self.pad, self.batch_type)


class FomDataset(VideoTaskDataset):
    """Frame order modelling (§2.7): the clip plus ``order`` / ``target`` from :func:`reorder_frames`."""

    stream_name = "fom"

    def example(self, index: int, rng: np.random.Generator) -> tuple[VideoItem, torch.Tensor, torch.Tensor]:
        item = self.corpus.video_item(self.video_ids[index], truncate_text=self.truncate_text)
        order, target = reorder_frames(len(item.frame_feats), rng, self.mask_prob)
        return item, torch.from_numpy(order), torch.from_numpy(target)

    def collate(self, examples: Sequence[tuple[VideoItem, torch.Tensor, torch.Tensor]]) -> FomBatch:
        items, orders, targets = zip(*examples)
        return collate_fom(items, orders, targets, self.pad)


class VsmDataset(VideoTaskDataset):
    """Video-subtitle matching (§2.6): ``query_per_video`` subtitle queries removed from the context.

    Queries are sampled without replacement among the visible (not hidden, see
    :meth:`VideoCorpus.with_hidden_subtitles`) subtitles owning ≥ 1 frame; with fewer candidates
    the last sampled one is repeated, so every video brings exactly ``query_per_video`` queries (the
    model groups queries by video in equal blocks). Videos without any candidate are skipped at
    construction (``num_skipped``) instead of crashing as in the reference (§8.5).
    Query = ``[CLS]`` + subtitle tokens (≤ ``max_txt_len``); target ``st`` = first owned frame,
    ``ed = min(max(st + 1, last owned frame), n − 1)``.
    """

    stream_name = "vsm"

    def __init__(self, corpus: VideoCorpus, video_ids: Sequence[str] | None = None, query_per_video: int = 5,
                 seed: int = 0, truncate_text: bool = True) -> None:
        if query_per_video < 1:
            raise ValueError(f"query_per_video must be >= 1, got {query_per_video}")
        self.query_per_video = query_per_video
        super().__init__(corpus, video_ids, 0.15, seed, truncate_text)

    def _usable(self, ids: list[str]) -> list[bool]:
        stats = self.corpus.subtitle_stats()
        return [bool(stats["subs_with_frames"][self.corpus.index_of(v)] > 0) for v in ids]

    def example(self, index: int, rng: np.random.Generator
                ) -> tuple[VideoItem, list[list[int]], list[list[int]]]:
        clip: Clip = self.corpus.clip(self.video_ids[index])
        frames = clip.owned_frames()
        candidates = np.array([i for i, f in enumerate(frames) if len(f) and i not in clip.hidden], dtype=np.int64)
        chosen = rng.choice(candidates, size=min(self.query_per_video, len(candidates)), replace=False).tolist()
        chosen += [chosen[-1]] * (self.query_per_video - len(chosen))
        ids, last = self.corpus.token_ids, len(clip.frame_owner) - 1
        queries, spans = [], []
        for sub in chosen:
            queries.append([ids.cls, *clip.tokens[sub][: self.corpus.max_txt_len]])
            st = int(frames[sub][0])
            spans.append([st, min(max(st + 1, int(frames[sub][-1])), last)])
        item = self.corpus.make_item(clip, removed=set(chosen), truncate_text=self.truncate_text)
        return item, queries, spans

    def collate(self, examples: Sequence[tuple[VideoItem, list[list[int]], list[list[int]]]]) -> RetrievalBatch:
        items, queries, spans = zip(*examples)
        return collate_retrieval(items, queries, spans, self.pad)
