"""LVWM pre-training data (SNP-S3 local vision-word matching, lfvila-snps3.md §2.3): per video, subtitle
queries with their significant words and the frames of their moment."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from data.dbs.corpus import VideoCorpus
from data.loading.collate import MAX_TEXT_POSITION, VideoItem, collate_text, collate_videos
from data.loading.pretrain_datasets import VsmDataset
from data.loading.significant_words import SignificantWords, choose_word_positions
from model.inputs import LvwmBatch


@dataclass
class LvwmExample:
    """One video: the clip (its text is never read) and its queries."""

    item: VideoItem
    queries: list[list[int]]         # [CLS] + tokens
    word_positions: np.ndarray       # (q, K) positions inside each query
    moments: list[np.ndarray]        # frames of each query's moment


class LvwmDataset(VsmDataset):
    """VSM's queries (``query_per_video`` visible subtitles owning ≥ 1 frame), each with ``words_per_query``
    significant words (:func:`choose_word_positions`) and its owned frames as the positive bag.

    The model reads the clip through the video-only pass, so the clip item carries no subtitle text.
    """

    stream_name = "lvwm"

    def __init__(self, corpus: VideoCorpus, words: SignificantWords, video_ids: Sequence[str] | None = None,
                 query_per_video: int = 5, seed: int = 0, words_per_query: int = 3,
                 truncate_text: bool = True) -> None:
        if words_per_query < 1:
            raise ValueError(f"words_per_query must be >= 1, got {words_per_query}")
        self.words, self.words_per_query = words, words_per_query
        super().__init__(corpus, video_ids, query_per_video, seed, truncate_text)

    def _usable(self, ids: list[str]) -> list[bool]:
        stats = self.corpus.subtitle_stats()
        # a query needs a frame and a token: count subtitles with both via the layouts (VSM needs frames only)
        framed = super()._usable(ids)
        return [f and bool(stats["subs_with_tokens"][self.corpus.index_of(v)] > 0) for v, f in zip(ids, framed)]

    def example(self, index: int, rng: np.random.Generator) -> LvwmExample:
        clip = self.corpus.clip(self.video_ids[index])
        frames = clip.owned_frames()
        candidates = np.array([i for i, f in enumerate(frames) if len(f) and clip.tokens[i] and i not in clip.hidden],
                              dtype=np.int64)
        if not len(candidates):  # a video whose framed subtitles are all empty: any framed one, as VSM
            candidates = np.array([i for i, f in enumerate(frames) if len(f) and i not in clip.hidden], dtype=np.int64)
        chosen = rng.choice(candidates, size=min(self.query_per_video, len(candidates)), replace=False).tolist()
        chosen += [chosen[-1]] * (self.query_per_video - len(chosen))
        texts = [clip.tokens[sub][: self.corpus.max_txt_len] or [self.corpus.token_ids.unk] for sub in chosen]
        lengths = np.array([len(t) for t in texts], dtype=np.int64)
        positions = choose_word_positions(np.concatenate(texts), lengths, rng, self.words, self.words_per_query)
        cls = self.corpus.token_ids.cls
        item = self.corpus.make_item(clip, removed=range(clip.num_subs))  # text-free: only [SEP] rows
        return LvwmExample(item=item, queries=[[cls, *t] for t in texts], word_positions=positions + 1,
                           moments=[frames[sub] for sub in chosen])

    def collate(self, examples: Sequence[LvwmExample]) -> LvwmBatch:
        return collate_lvwm(examples, self.pad)


def collate_lvwm(examples: Sequence[LvwmExample], pad_id: int,
                 max_text_position: int = MAX_TEXT_POSITION) -> LvwmBatch:
    """Queries grouped by video; ``moment_mask[q, f]`` = frame f of q's video is in q's moment."""
    video = collate_videos([ex.item for ex in examples], pad_id, max_text_position=max_text_position)
    per_video = torch.tensor([len(ex.queries) for ex in examples], dtype=torch.long)
    moment_frames = [torch.from_numpy(np.asarray(m, dtype=np.int64)) for ex in examples for m in ex.moments]
    moment_mask = torch.zeros(len(moment_frames), video.clip_mask.shape[1], dtype=torch.bool)
    rows = torch.repeat_interleave(torch.arange(len(moment_frames)),
                                   torch.tensor([len(m) for m in moment_frames], dtype=torch.long))
    moment_mask[rows, torch.cat(moment_frames)] = True
    return LvwmBatch(
        video=video, queries=collate_text([q for ex in examples for q in ex.queries], pad_id, max_text_position),
        query_video_index=torch.repeat_interleave(torch.arange(len(examples)), per_video),
        word_positions=torch.from_numpy(np.concatenate([ex.word_positions for ex in examples])).long(),
        moment_mask=moment_mask)
