"""Sampling, TaskStream and MetaLoader: shards, determinism, workers, task ratios, exact resume; and one
batch of every task through its model."""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest
import torch

from data.loading.meta_loader import MetaLoader, TaskStream, validation_loader
from data.loading.pretrain_datasets import FomDataset, MfmDataset, MlmDataset, VsmDataset
from data.loading.qa_datasets import VideoQaDataset
from data.loading.retrieval_datasets import VcmrDataset
from data.loading.sampling import KeyedDataset, ShardedSampler, distinct_group_order
from model.inputs import MffrBatch
from model.pretrain import HeroForPretraining
from model.vcmr import HeroForVcmr
from model.video_qa import HeroForVideoQA
from tests.data.dbs.test_corpus import DEMO_DIM, assert_batches_equal, batches_equal, demo_corpus
from tests.helpers import tiny_config


class Echo(KeyedDataset):
    """No I/O: an item is (index, draw, a number from its rng) — enough to test ordering and RNG."""

    stream_name = "echo"

    def __init__(self, n: int, seed: int = 0) -> None:
        super().__init__(seed)
        self.n = n

    def __len__(self) -> int:
        return self.n

    def example(self, index, rng):
        return index, int(rng.integers(1 << 30))

    def collate(self, examples):
        return torch.tensor(examples)


@pytest.fixture(scope="module")
def tv(demo_manifest):
    return demo_corpus(demo_manifest, max_clip_len=30)


@pytest.fixture(scope="module")
def pretrain_sets(tv):
    return {"mlm": MlmDataset(tv), "mfm-nce": MfmDataset(tv), "fom": FomDataset(tv), "vsm": VsmDataset(tv)}


# --------------------------------------------------------------------------------------------------
# sampler


@pytest.mark.parametrize("shuffle, drop_last", [(True, False), (False, False), (True, True)])
def test_shards_disjoint_and_covering(shuffle, drop_last):
    shards = [list(ShardedSampler(103, 4, rank=r, world_size=3, seed=5, shuffle=shuffle, drop_last=drop_last))
              for r in range(3)]
    indices = [[i for i, _ in s] for s in shards]
    assert all(set(ix) == set(range(r, 103, 3)) or drop_last for r, ix in enumerate(indices))
    flat = sum(indices, [])
    assert len(flat) == len(set(flat))
    if drop_last:
        assert [len(ix) for ix in indices] == [32, 32, 32]
    else:
        assert sorted(flat) == list(range(103))
    draws = [d for s in shards for _, d in s]
    assert len(set(draws)) == len(draws)


def test_sampler_epochs_and_start():
    s = ShardedSampler(50, 5, seed=1)
    e0 = list(s)
    assert e0 == list(ShardedSampler(50, 5, seed=1))  # deterministic
    assert [i for i, _ in e0] != [i for i, _ in ShardedSampler(50, 5, seed=2)]
    s.set_epoch(1)
    e1 = list(s)
    assert [i for i, _ in e1] != [i for i, _ in e0] and not {d for _, d in e0} & {d for _, d in e1}
    s.set_epoch(1, start=15)
    assert list(s) == e1[15:] and len(s) == 35


def test_distinct_group_order():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 12, size=200)
    order, repeats = distinct_group_order(rng.permutation(200), groups, 8)
    assert sorted(order.tolist()) == list(range(200))
    blocks = [groups[order[i:i + 8]] for i in range(0, 200, 8)]
    assert sum(len(set(b.tolist())) < len(b) for b in blocks) * 1 <= repeats
    assert all(len(set(b.tolist())) == len(b) for b in blocks[:15])
    same, repeats = distinct_group_order(np.arange(6), np.zeros(6, dtype=np.int64), 3)
    assert same.tolist() == list(range(6)) and repeats == 4  # impossible: filled and counted


# --------------------------------------------------------------------------------------------------
# TaskStream


def test_stream_epochs_and_seeds():
    stream = TaskStream(Echo(10), 3, seed=4)
    assert stream.batches_per_epoch == 3
    epoch0 = [next(stream) for _ in range(3)]
    assert stream.state_dict()["epoch"] == 0 and stream.state_dict()["batch_in_epoch"] == 3
    epoch1 = next(stream)
    assert stream.epoch == 1 and stream.batch_in_epoch == 1 and stream.total_batches == 4
    assert len({int(i) for b in epoch0 for i in b[:, 0]}) == 9  # drop_last: 9 of 10 items
    again = TaskStream(Echo(10), 3, seed=4)
    assert all(torch.equal(a, next(again)) for a in epoch0 + [epoch1])
    other_order = TaskStream(Echo(10), 3, seed=5)
    assert not all(torch.equal(a, next(other_order)) for a in epoch0)
    other_rng = TaskStream(Echo(10, seed=1), 3, seed=4)
    first = next(other_rng)
    assert torch.equal(first[:, 0], epoch0[0][:, 0]) and not torch.equal(first[:, 1], epoch0[0][:, 1])


def test_workers_give_identical_batches_and_count_only_handed_batches(pretrain_sets):
    for name in ("mlm", "vsm"):
        ds = pretrain_sets[name]
        serial = TaskStream(ds, 3, seed=2)
        parallel = TaskStream(ds, 3, seed=2, num_workers=2)
        for step in range(3):
            assert_batches_equal(next(serial), next(parallel), f"{name} batch {step}")
        # workers have prefetched more, but only the handed batches count
        assert parallel.state_dict()["total_batches"] == 3 == parallel.state_dict()["batch_in_epoch"]


def test_stream_resume_is_exact_across_epochs(pretrain_sets):
    ds = pretrain_sets["fom"]
    reference = TaskStream(ds, 64, seed=3, num_workers=2)
    per_epoch = reference.batches_per_epoch
    for _ in range(per_epoch - 1):
        next(reference)
    state = reference.state_dict()
    expected = [next(reference) for _ in range(3)]  # crosses into epoch 1
    resumed = TaskStream(ds, 64, seed=3)
    resumed.load_state_dict(state)
    for i, batch in enumerate(expected):
        assert_batches_equal(batch, next(resumed), f"resumed batch {i}")
    reference.load_state_dict(state)  # rewinding a live stream discards what its workers prefetched
    assert_batches_equal(expected[0], next(reference), "rewound batch")
    with pytest.raises(ValueError, match="batch_size"):
        TaskStream(ds, 32, seed=3).load_state_dict(state)


def test_validation_loader_is_a_fixed_pass(pretrain_sets):
    ds = pretrain_sets["mlm"]
    first = list(validation_loader(ds, 50, rank=1, world_size=3))
    second = list(validation_loader(ds, 50, rank=1, world_size=3, num_workers=2))
    assert len(first) == -(-len(range(1, len(ds), 3)) // 50)
    for a, b in zip(first, second):
        assert_batches_equal(a, b)
    items = [i for b in validation_loader(Echo(20), 6, rank=1, world_size=3) for i in b[:, 0].tolist()]
    assert items == list(range(1, 20, 3))


# --------------------------------------------------------------------------------------------------
# MetaLoader


def test_task_ratios_and_rank_agreement():
    streams = {n: TaskStream(Echo(4), 1) for n in ("mlm", "mfm-nce", "fom", "vsm")}
    ratios = {"mlm": 2, "mfm-nce": 2, "fom": 1, "vsm": 2}
    meta = MetaLoader(streams, ratios, seed=7)
    counts = Counter(meta.task_for_update(u) for u in range(21000))
    for name, ratio in ratios.items():
        assert abs(counts[name] / 21000 - ratio / 7) < 0.012, counts
    reordered = MetaLoader(dict(reversed(list(streams.items()))), dict(reversed(list(ratios.items()))), seed=7)
    assert [reordered.task_for_update(u) for u in range(200)] == [meta.task_for_update(u) for u in range(200)]
    assert [meta.task_for_update(u) for u in range(200)] != [MetaLoader(streams, ratios, seed=8).task_for_update(u)
                                                             for u in range(200)]


def test_accumulation_group_shares_one_task():
    streams = {n: TaskStream(Echo(7), 2) for n in ("a", "b", "c")}
    meta = MetaLoader(streams, {"a": 1, "b": 1, "c": 1}, accum_steps=3, seed=0)
    tasks = [next(meta)[0] for _ in range(60)]
    groups = [tasks[i:i + 3] for i in range(0, 60, 3)]
    assert all(len(set(g)) == 1 for g in groups) and len(set(tasks)) == 3


def build_meta(pretrain_sets, workers: int) -> MetaLoader:
    streams = {name: TaskStream(ds, 2, seed=11, num_workers=workers) for name, ds in pretrain_sets.items()}
    return MetaLoader(streams, {"mlm": 2, "mfm-nce": 2, "fom": 1, "vsm": 2}, accum_steps=2, seed=3)


def test_meta_loader_exact_resume(pretrain_sets):
    meta = build_meta(pretrain_sets, workers=0)
    for _ in range(5):  # stop in the middle of an accumulation group
        next(meta)
    state = meta.state_dict()
    expected = [next(meta) for _ in range(7)]
    resumed = build_meta(pretrain_sets, workers=0)
    resumed.load_state_dict(state)
    for i, (task, batch) in enumerate(expected):
        got_task, got = next(resumed)
        assert got_task == task
        assert_batches_equal(batch, got, f"micro-step {5 + i} ({task})")
    assert len({t for t, _ in expected}) > 1
    fresh = build_meta(pretrain_sets, workers=0)
    assert not all(batches_equal(b, next(fresh)[1]) for _, b in expected[:3])  # resuming mattered


# --------------------------------------------------------------------------------------------------
# every task's batch through its model


def test_every_task_batch_runs_through_its_model(demo_manifest, tv, pretrain_sets):
    vocab = tv.token_ids.vocab_size
    config = tiny_config(vfeat_dim=DEMO_DIM, vocab=vocab, max_clip_len=30)
    config = dataclasses.replace(
        config, max_frm_seq_len=30,
        f_config=dataclasses.replace(config.f_config, max_position_embeddings=514),
        c_config=dataclasses.replace(config.c_config, max_position_embeddings=514))
    torch.manual_seed(0)
    batches = {name: next(TaskStream(ds, 3, seed=1)) for name, ds in pretrain_sets.items()}
    batches["mffr"] = next(TaskStream(MfmDataset(tv, batch_type=MffrBatch), 3))
    pretrain = HeroForPretraining(config)
    for name, batch in batches.items():
        loss = pretrain(batch).loss
        assert torch.isfinite(loss) and loss > 0, name
    vcmr = VcmrDataset(tv, demo_manifest["tasks"]["tvr"]["train"])
    loss = HeroForVcmr(config)(next(TaskStream(vcmr, 4))).loss
    assert torch.isfinite(loss) and loss > 0
    qa = VideoQaDataset(tv, demo_manifest["tasks"]["tvqa"]["train"])
    loss = HeroForVideoQA(config)(next(TaskStream(qa, 2))).loss
    assert torch.isfinite(loss) and loss > 0
