"""VCMR datasets: label rule, training filters, distinct videos per batch, evaluation datasets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data.dbs.corpus import VideoCorpus, frame_span_label
from data.dbs.query_db import build_query_db
from data.loading.meta_loader import TaskStream, validation_loader
from data.loading.retrieval_datasets import VcmrDataset, VcmrQueryDataset, VcmrVideoDataset
from tests.data.data_helpers import tokenizer, write_jsonl
from tests.data.dbs.test_corpus import SPECIAL, T, demo_corpus, write_hand_dbs  # noqa: F401

QUERIES = [  # (desc_id, vid, ts, desc); every word is one token
    (1, "a", [0.0, 9.69], "red car"),          # st 0, ed ceil(6.46)-1 = 6
    (2, "a", [3.0, 3.1], "blue car"),          # st 2, ed forced st+1 = 3
    (3, "b", [4.5, 6.0], "a man runs"),        # st 3, ed max(3, 4) = 4
    (4, "b", [20.0, 30.0], "the dog"),         # beyond the 10-frame clip: (9, 9)
    (5, "a", [1.0, 2.0], "one two three four five six"),  # too long for max_txt_len 5
    (6, "gone", [1.0, 2.0], "lost video"),     # video not in the corpus
]
EXPECTED = {"1": (0, 6), "2": (2, 3), "3": (3, 4), "4": (9, 9)}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("vcmr")
    videos = {"a": {"owner": list(range(5)) + [-1] * 7, "tokens": T[:5]},
              "b": {"owner": [0] * 10, "tokens": T[:1]}}
    corpus = VideoCorpus(*write_hand_dbs(root, videos), max_clip_len=10)
    rows = [{"desc_id": i, "vid_name": v, "ts": ts, "desc": d, "duration": 30.0, "type": "v"}
            for i, v, ts, d in QUERIES]
    build_query_db(write_jsonl(root / "q.jsonl", rows), "tvr", root / "q.db", tokenizer())
    return corpus, root / "q.db"


def test_vcmr_labels_and_filters(setup):
    corpus, db = setup
    ds = VcmrDataset(corpus, db, max_txt_len=5)
    assert ds.query_ids == ["1", "2", "3", "4"]
    assert ds.dropped == {"no_video": 1, "too_long": 1, "no_label": 0}
    for i, qid in enumerate(ds.query_ids):
        item, queries, spans = ds[i]
        assert tuple(spans[0]) == EXPECTED[qid]
        assert queries[0][0] == SPECIAL["cls"] and queries[0][1:] == ds.db[qid]["input_ids"]
        assert len(item.frame_feats) == 10 and item.subtitle_ids[0][0] == SPECIAL["sep"]
    assert ds.groups.tolist() == [0, 0, 1, 1]
    batch = ds.collate([ds[0], ds[2]])
    assert batch.span_targets.tolist() == [[0, 6], [3, 4]] and batch.query_video_index.tolist() == [0, 1]
    evaluation = VcmrDataset(corpus, db, training=False)
    assert len(evaluation) == 5 and evaluation.dropped["too_long"] == 0


def test_vcmr_batches_hold_distinct_videos(demo_manifest):
    corpus = demo_corpus(demo_manifest)
    ds = VcmrDataset(corpus, demo_manifest["tasks"]["tvr"]["train"])
    per_video = np.bincount(ds.groups)
    assert per_video.max() > 1  # duplicates would occur without the grouping
    stream = TaskStream(ds, 16, seed=1)
    order = stream.sampler.epoch_order()
    assert stream.sampler.repeats == 0 and len(order) == 16 * stream.batches_per_epoch
    assert len(set(order.tolist())) == len(order)  # a reordering, nothing duplicated
    for b in range(stream.batches_per_epoch):
        block = ds.groups[order[16 * b: 16 * b + 16]]
        assert len(set(block.tolist())) == 16
    plain = TaskStream(ds, 16, seed=1, distinct_groups=False).sampler.epoch_order()
    dup = sum(len(set(ds.groups[plain[i:i + 16]].tolist())) < 16 for i in range(0, len(plain) - 15, 16))
    assert dup > 0  # the check above is not vacuous


def test_vcmr_eval_datasets(demo_manifest):
    corpus = demo_corpus(demo_manifest)
    videos = VcmrVideoDataset(corpus)
    seen = []
    for batch in validation_loader(videos, 64):
        seen += batch.video_ids
        assert batch.video.clip_feats.shape[0] == len(batch.video_ids)
    assert seen == corpus.ids()
    queries = VcmrQueryDataset(corpus, demo_manifest["tasks"]["tvr"]["val"])
    batches = list(validation_loader(queries, 50, rank=1, world_size=2))
    ids = [q for b in batches for q in b.query_ids]
    assert ids == queries.query_ids[1::2]
    first = batches[0]
    assert (first.queries.ids[:, 0] == SPECIAL["cls"]).all()
    for i, qid in enumerate(first.query_ids[:10]):
        record = queries.db[qid]
        assert first.video_ids[i] == record["vid_name"]
        assert torch.allclose(first.span_seconds[i], torch.tensor(record["ts"], dtype=torch.float32))
        expected = frame_span_label(record["ts"], corpus.num_frames(record["vid_name"]), corpus.frame_interval)
        assert tuple(first.span_targets[i].tolist()) == expected


def test_vcmr_rejects_qa_db(demo_manifest):
    with pytest.raises(ValueError, match="QA"):
        VcmrDataset(demo_corpus(demo_manifest), demo_manifest["tasks"]["tvqa"]["train"])
