"""MTC dataset on the real demo dbs: units are subtitles with frames and text, draws are deterministic,
labels follow from the draws, and the video side carries no subtitle text."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from data.loading.mtc_dataset import MtcDataset, unit_subtitles
from model.heads.mtc import nearest_value_labels
from tests.data.dbs.test_corpus import demo_corpus  # noqa: F401


@pytest.fixture(scope="module")
def tv(demo_manifest):
    return demo_corpus(demo_manifest, max_clip_len=60)


def test_mtc_examples_and_batch(tv):
    dataset = MtcDataset(tv, seed=3)
    assert len(dataset) + sum(dataset.dropped.values()) == len(tv)
    example = dataset.example(0, np.random.default_rng(0))
    clip = tv.clip(dataset.video_ids[0])
    units = unit_subtitles(clip.frame_owner, clip.tokens, clip.hidden)
    assert len(example.unit_text) == len(units) >= 2
    for u, sub in enumerate(units):  # frames of unit u are exactly the frames of subtitle sub
        assert torch.equal(example.frame_unit == u, torch.from_numpy(clip.frame_owner == sub))
        assert example.unit_text[u][1:] == clip.tokens[sub][: tv.max_txt_len]
    assert all(row == [tv.token_ids.sep] for row in example.item.subtitle_ids)  # no text on the video side
    examples = [dataset.example(i, np.random.default_rng(i)) for i in range(4)]
    batch = dataset.collate(examples)
    assert batch.unit_counts.tolist() == [len(ex.unit_text) for ex in examples]
    assert batch.unit_text.ids.shape[0] == int(batch.unit_counts.sum())
    assert torch.equal(batch.labels, nearest_value_labels(batch.keys, batch.values))
    counts = batch.unit_counts[:, None]
    assert bool((batch.keys < counts).all()) and bool((batch.values < counts).all())
    again = dataset.collate([dataset.example(i, np.random.default_rng(i)) for i in range(4)])
    assert torch.equal(again.keys, batch.keys) and torch.equal(again.shift_draw, batch.shift_draw)
