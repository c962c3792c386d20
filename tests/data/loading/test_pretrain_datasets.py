"""Pre-training datasets: masking statistics, forced masks, FOM order/target, VSM queries and targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data.dbs.corpus import TokenIds, VideoCorpus
from data.loading.pretrain_datasets import (
    FomDataset,
    MfmDataset,
    MlmDataset,
    VsmDataset,
    mask_frames,
    mask_tokens,
    reorder_frames,
)
from model.inputs import MffrBatch, MfmNceBatch
from tests.data.dbs.test_corpus import (  # noqa: F401
    SPECIAL,
    T,
    assert_batches_equal,
    batches_equal,
    demo_corpus,
    write_hand_dbs,
)

IDS = TokenIds.from_meta({"special_ids": SPECIAL, "vocab_size": 30522})


@pytest.fixture(scope="module")
def tv(demo_manifest):
    return demo_corpus(demo_manifest, max_clip_len=60)


def test_mask_token_statistics():
    rng = np.random.default_rng(0)
    lengths = np.full(8000, 50)
    tokens = rng.integers(1500, 3000, size=int(lengths.sum()))  # never in the special range
    inputs, labels = mask_tokens(tokens, lengths, rng, 0.15, IDS)
    selected = labels >= 0
    assert abs(selected.mean() - 0.15) < 0.005
    assert np.array_equal(labels[selected], tokens[selected]) and (inputs[~selected] == tokens[~selected]).all()
    masked = inputs[selected] == IDS.mask
    kept = inputs[selected] == tokens[selected]
    replaced = ~masked & ~kept
    assert abs(masked.mean() - 0.8) < 0.01 and abs(replaced.mean() - 0.1) < 0.01 and abs(kept.mean() - 0.1) < 0.01
    low, high = IDS.word_range
    assert (inputs[selected][replaced] >= low).all() and (inputs[selected][replaced] < high).all()
    assert len(np.unique(inputs[selected][replaced])) > 1000  # uniform over the word range, not a few ids


def test_forced_mask_on_first_token():
    lengths = np.array([3, 0, 5, 1])
    tokens = np.arange(2000, 2000 + lengths.sum())
    inputs, labels = mask_tokens(tokens, lengths, np.random.default_rng(1), 1e-12, IDS)
    starts = [0, 3, 8]  # non-empty sequences
    assert np.flatnonzero(labels >= 0).tolist() == starts
    assert inputs[starts].tolist() == [IDS.mask] * 3 and labels[starts].tolist() == tokens[starts].tolist()
    rest = np.setdiff1d(np.arange(len(tokens)), starts)
    assert np.array_equal(inputs[rest], tokens[rest])


def test_mlm_examples(tv):
    ds = MlmDataset(tv, seed=3)
    vid = ds.video_ids[0]
    clip = tv.clip(vid)
    examples = ds[(0, 11)]
    texts = [t for t in clip.tokens if t]
    assert len(examples) == len(texts)
    frames = [f for f, t in zip(clip.owned_frames(), clip.tokens) if t]
    for ex, text, owned in zip(examples, texts, frames):
        assert ex.input_ids[0] == IDS.cls and ex.labels[0] == -1 and len(ex.input_ids) == 1 + min(len(text), 60)
        labels = np.array(ex.labels[1:])
        assert (labels >= 0).any() and np.array_equal(labels[labels >= 0], np.array(text[:60])[labels >= 0])
        assert torch.equal(ex.frame_feats, clip.frame_feats[torch.from_numpy(owned)])
    batch = ds.collate([examples, ds[(1, 12)]])
    assert len(batch.labels) == sum(int((np.array(ex.labels) >= 0).sum()) for ex in examples + ds[(1, 12)])
    again = ds[(0, 11)]
    assert [e.input_ids for e in again] == [e.input_ids for e in examples]
    others = [ds[(0, d)] for d in range(12, 16)]
    assert any([e.input_ids for e in o] != [e.input_ids for e in examples] for o in others)


def test_mfm_masks_at_least_one_frame(tv):
    assert all(mask_frames(n, np.random.default_rng(s), 1e-12).sum() == 1 for n in (1, 5, 40) for s in range(5))
    many = mask_frames(100_000, np.random.default_rng(0), 0.15)
    assert abs(many.mean() - 0.15) < 0.005
    ds = MfmDataset(tv, batch_type=MffrBatch)
    batch = ds.collate([ds[(i, i)] for i in range(4)])
    assert isinstance(batch, MffrBatch)
    masked = batch.video.clip_mfm_mask
    assert (masked.sum(1) >= 1).all() and len(batch.targets) == int(masked.sum())
    assert (batch.video.clip_feats[masked] == 0).all()  # masked frames zeroed, targets keep the raw features
    raw = torch.nn.utils.rnn.pad_sequence([tv.clip(ds.video_ids[i]).frame_feats for i in range(4)], batch_first=True)
    assert torch.equal(batch.targets, raw[masked])
    assert MfmDataset(tv).stream != ds.stream  # NCE and MFFR draw independent masks
    assert isinstance(MfmDataset(tv).collate([MfmDataset(tv)[0]]), MfmNceBatch)


@pytest.mark.parametrize("n", [1, 2, 3, 17, 100])
def test_fom_order_target_consistency(n):
    for seed in range(30):
        order, target = reorder_frames(n, np.random.default_rng(seed), 0.15)
        assert sorted(order.tolist()) == list(range(n))  # a permutation
        moved = np.flatnonzero(target >= 0)  # positions holding a selected frame
        selected = np.sort(target[moved])
        assert len(moved) >= min(2, n)
        assert np.array_equal(np.sort(order[selected]), moved)  # selected frames stay among selected slots
        assert (target[order[selected]] == selected).all()  # target[order[i]] = i
        unselected = np.setdiff1d(np.arange(n), selected)
        assert (order[unselected] == unselected).all()


def test_fom_batch(tv):
    ds = FomDataset(tv)
    examples = [ds[(i, 100 + i)] for i in range(3)]
    batch = ds.collate(examples)
    lengths = batch.video.clip_mask.sum(1)
    for b, (_, order, target) in enumerate(examples):
        n = int(lengths[b])
        assert torch.equal(batch.order[b, :n], order) and torch.equal(batch.targets[b, :n], target)
        assert (batch.targets[b, n:] == -1).all()
        assert torch.equal(batch.order[b, n:], torch.arange(n, batch.order.shape[1]))
        shuffled = torch.empty(n, dtype=torch.long)
        shuffled[order] = torch.arange(n)  # frame now at each position
        valid = target >= 0
        assert torch.equal(shuffled[valid], target[valid])


@pytest.fixture(scope="module")
def vsm_corpus(tmp_path_factory):
    videos = {
        "two": {"owner": [-1, 0, 0, 0, -1, -1, 2, -1, -1, 3], "tokens": T[:4]},  # subs 0, 2, 3 own frames
        "none": {"owner": [-1, -1, -1], "tokens": T[:2]},                        # no frame-owning subtitle
        "many": {"owner": [0, 1, 2, 3, 4, 5], "tokens": T[:6]},
    }
    return VideoCorpus(*write_hand_dbs(tmp_path_factory.mktemp("vsm"), videos), sub_ctx_len=1, max_txt_len=4)


def sub_of(query: list[int]) -> int:
    """Subtitle a query was taken from (T[i] starts with 2000 + 10 i)."""
    return (query[1] - 2000) // 10


def test_vsm_queries_targets_and_context(vsm_corpus):
    ds = VsmDataset(vsm_corpus, query_per_video=5)
    assert ds.video_ids == ["two", "many"] and ds.num_skipped == 1
    sep, cls = SPECIAL["sep"], SPECIAL["cls"]
    expected_span = {0: [1, 3], 2: [6, 7], 3: [9, 9]}
    for draw in range(10):
        item, queries, spans = ds[(0, draw)]
        assert len(queries) == len(spans) == 5
        subs = [sub_of(q) for q in queries]
        assert len(set(subs)) == 3 and subs[2:] == [subs[2]] * 3  # 3 candidates, then the last repeated
        for q, sub, span in zip(queries, subs, spans):
            assert q == [cls, *T[sub][:4]] and span == expected_span[sub]
        rows = item.subtitle_ids
        assert all(rows[s] == [sep] for s in set(subs))  # removed...
        assert rows[1] == [sep, *T[1][:4]]  # ...and not context for the next subtitle (sub 0 removed)
    item, queries, spans = ds[(1, 0)]
    chosen = {sub_of(q) for q in queries}
    assert len(chosen) == 5
    for s in range(6):
        assert (item.subtitle_ids[s] == [sep]) == (s in chosen)
        if s not in chosen and s > 0 and s - 1 not in chosen:
            assert item.subtitle_ids[s] == [sep, *T[s - 1][:4], *T[s][:4]]
    batch = ds.collate([ds[(0, 1)], ds[(1, 2)]])
    assert batch.query_video_index.tolist() == [0] * 5 + [1] * 5 and batch.span_targets.shape == (10, 2)


def test_vsm_on_demo_is_deterministic(tv):
    ds = VsmDataset(tv, seed=5)
    a = ds.collate([ds[(i, 7 * i)] for i in range(3)])
    assert_batches_equal(a, ds.collate([ds[(i, 7 * i)] for i in range(3)]))
    assert not batches_equal(a, VsmDataset(tv, seed=6).collate([VsmDataset(tv, seed=6)[(i, 7 * i)] for i in range(3)]))
    assert (a.span_targets[:, 0] <= a.span_targets[:, 1]).all()
