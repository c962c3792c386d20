"""MTC pre-training data (LF-VILA's multimodal temporal contrast on HERO's subtitle segments).

A *unit* is a visible subtitle that owns ≥ 1 frame of the clip and has ≥ 1 token; a video's units are
numbered in time order (subtitles are stored in time order). Per video the dataset draws, from its rng,
``num_keys`` distinct key units, ``num_values`` distinct value units (independently), and one number in
[0, 1) that picks the extra negative unit of each shifted video; labels follow from the draws
(:func:`model.heads.mtc.nearest_value_labels`). Videos with fewer units than ``max(num_keys, num_values)``
are skipped at construction (counted in ``dropped``, which the run's data report shows).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from data.dbs.corpus import VideoCorpus
from data.loading.collate import MAX_TEXT_POSITION, VideoItem, collate_text, collate_videos
from data.loading.pretrain_datasets import VideoTaskDataset
from model.heads.mtc import nearest_value_labels
from model.inputs import MtcBatch


@dataclass
class MtcExample:
    """One video: its clip (text rows emptied), its units and the draws."""

    item: VideoItem
    frame_unit: torch.Tensor        # (n,) long, −1 = frame in no unit
    unit_text: list[list[int]]      # [CLS] + tokens per unit
    keys: np.ndarray                # (K,)
    values: np.ndarray              # (V,)
    shift_draw: float


def unit_subtitles(frame_owner: np.ndarray, tokens: Sequence[Sequence[int]], hidden=frozenset()) -> np.ndarray:
    """Subtitle indices that are units (own ≥ 1 frame, have ≥ 1 token, not hidden), in time order."""
    owns = np.bincount(frame_owner[frame_owner >= 0], minlength=len(tokens)) > 0
    return np.array([i for i in range(len(tokens)) if owns[i] and tokens[i] and i not in hidden], dtype=np.int64)


def draw_units(num_units: int, num_keys: int, num_values: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray, float]:
    """Distinct key positions, distinct value positions (drawn independently) and the shift draw."""
    keys = rng.choice(num_units, size=num_keys, replace=False)
    values = rng.choice(num_units, size=num_values, replace=False)
    return keys, values, float(rng.random())


class MtcDataset(VideoTaskDataset):
    """Multimodal temporal contrast (LF-VILA §1.3 of lfvila-snps3.md) on subtitle units."""

    stream_name = "mtc"

    def __init__(self, corpus: VideoCorpus, video_ids: Sequence[str] | None = None, seed: int = 0,
                 num_keys: int = 2, num_values: int = 2, truncate_text: bool = True) -> None:
        self.num_keys, self.num_values = num_keys, num_values
        super().__init__(corpus, video_ids, 0.15, seed, truncate_text)
        need = max(num_keys, num_values)
        self.dropped = {f"fewer than {need} subtitle units (subtitles with frames and text)": self.num_skipped}
        self.num_skipped = 0  # reported through ``dropped``

    def _usable(self, ids: list[str]) -> list[bool]:
        need = max(self.num_keys, self.num_values)
        usable = []
        for vid in ids:
            layout = self.corpus.layout(vid)
            usable.append(len(unit_subtitles(layout.frame_owner, layout.tokens, layout.hidden)) >= need)
        return usable

    def example(self, index: int, rng: np.random.Generator) -> MtcExample:
        clip = self.corpus.clip(self.video_ids[index])
        units = unit_subtitles(clip.frame_owner, clip.tokens, clip.hidden)
        unit_of_sub = np.full(len(clip.tokens), -1, dtype=np.int64)
        unit_of_sub[units] = np.arange(len(units))
        owner = clip.frame_owner
        frame_unit = np.where(owner >= 0, unit_of_sub[np.maximum(owner, 0)], -1)
        # The video side never reads subtitle text: every row is emptied (the model also masks it).
        item = self.corpus.make_item(clip, removed=range(len(clip.tokens)))
        cut = self.corpus.max_txt_len if self.truncate_text else None
        text = [[self.corpus.token_ids.cls, *clip.tokens[i][:cut]] for i in units]
        keys, values, draw = draw_units(len(units), self.num_keys, self.num_values, rng)
        return MtcExample(item, torch.from_numpy(frame_unit), text, keys, values, draw)

    def collate(self, examples: Sequence[MtcExample]) -> MtcBatch:
        return collate_mtc(examples, self.pad)


def collate_mtc(examples: Sequence[MtcExample], pad_id: int, max_text_position: int = MAX_TEXT_POSITION) -> MtcBatch:
    video = collate_videos([ex.item for ex in examples], pad_id, max_text_position=max_text_position)
    frame_unit = torch.nn.utils.rnn.pad_sequence([ex.frame_unit for ex in examples], batch_first=True,
                                                 padding_value=-1)
    keys = torch.from_numpy(np.stack([ex.keys for ex in examples])).long()
    values = torch.from_numpy(np.stack([ex.values for ex in examples])).long()
    return MtcBatch(
        video=video, frame_unit=frame_unit,
        unit_counts=torch.tensor([len(ex.unit_text) for ex in examples], dtype=torch.long),
        unit_text=collate_text([row for ex in examples for row in ex.unit_text], pad_id, max_text_position),
        keys=keys, values=values, labels=nearest_value_labels(keys, values),
        shift_draw=torch.tensor([ex.shift_draw for ex in examples], dtype=torch.float32))
