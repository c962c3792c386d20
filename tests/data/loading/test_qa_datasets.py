"""VideoQA dataset: length filter, ts parsing → span labels, answers, batch layout."""

from __future__ import annotations

import pytest

from data.dbs.corpus import VideoCorpus
from data.dbs.query_db import build_query_db
from data.loading.meta_loader import validation_loader
from data.loading.qa_datasets import VideoQaDataset
from tests.data.data_helpers import tokenizer, write_jsonl
from tests.data.dbs.test_corpus import SPECIAL, T, demo_corpus, write_hand_dbs  # noqa: F401

# (qid, vid, ts, question, answers, answer_idx); every word is one token
QUESTIONS = [
    (10, "a", "0-9.69", "who is it", ["a", "b", "c d", "e", "f"], 2),             # 3 + 2 = 5
    (11, "a", "4.5-6", "why", ["one two three four", "x", "y", "z", "w"], 0),      # 1 + 4 = 5
    (12, "a", "NaN-NaN", "what is that thing", ["a b", "c", "d", "e", "f"], 4),    # 4 + 2 = 6 > 5
    (13, "a", "20-30", "where", ["a", "b", "c", "d", "e"], None),                 # no answer label
    (14, "zz", "1-2", "how", ["a", "b", "c", "d", "e"], 1),                       # video not in corpus
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("qa")
    corpus = VideoCorpus(*write_hand_dbs(root, {"a": {"owner": [0, 0, 1, -1, 1, 2, 2, 2, -1, -1],
                                                      "tokens": T[:3]}}))
    rows = []
    for qid, vid, ts, q, answers, label in QUESTIONS:
        row = {f"a{i}": a for i, a in enumerate(answers)}
        row.update(qid=qid, q=q, vid_name=vid, ts=ts, show_name="x")
        if label is not None:
            row["answer_idx"] = label
        rows.append(row)
    build_query_db(write_jsonl(root / "qa.jsonl", rows), "tvqa", root / "qa.db", tokenizer())
    return corpus, root / "qa.db"


def test_length_filter_labels_and_spans(setup):
    corpus, db = setup
    train = VideoQaDataset(corpus, db, max_txt_len=5)
    assert train.question_ids == ["10", "11", "13"] and train.dropped == {"no_video": 1, "too_long": 1}
    full = VideoQaDataset(corpus, db, max_txt_len=5, training=False)
    assert full.question_ids == ["10", "11", "12", "13"] and full.num_answers == 5
    examples = {qid: full[i] for i, qid in enumerate(full.question_ids)}
    assert examples["10"].span_target == (0, 6) and examples["10"].answer_target == 2
    assert examples["11"].span_target == (3, 4)
    assert examples["12"].span_target == (-1, -1) and examples["12"].answer_target == 4  # "NaN-NaN"
    assert examples["13"].span_target == (9, 9) and examples["13"].answer_target == -1
    ex = examples["10"]
    assert ex.question == full.db["10"]["input_ids"][0] and ex.answers == full.db["10"]["input_ids"][1:]
    assert ex.item.subtitle_ids == [[SPECIAL["sep"], *t] for t in T[:3]]  # no truncation, SEP rows


def test_qa_batch_layout(setup):
    corpus, db = setup
    ds = VideoQaDataset(corpus, db, training=False)
    batch = ds.collate([ds[0], ds[3]])
    assert batch.answer_targets.tolist() == [2, -1] and batch.span_targets.tolist() == [[0, 6], [9, 9]]
    assert batch.qa_text.ids.shape[0] == 10 and batch.video.clip_feats.shape[0] == 10  # B·K replicas
    first = batch.qa_text.ids[0, : int(batch.qa_text.mask[0].sum())].tolist()
    q, a0 = ds.db["10"]["input_ids"][:2]
    assert first == [SPECIAL["sep"], *q, SPECIAL["sep"], *a0]


def test_demo_how2qa_and_tvqa(demo_manifest):
    for corpus_name, task, answers in (("tv", "tvqa", 5), ("how2", "how2qa", 4)):
        corpus = demo_corpus(demo_manifest, corpus_name)
        ds = VideoQaDataset(corpus, demo_manifest["tasks"][task]["val"], training=False)
        assert ds.num_answers == answers and len(ds) == demo_manifest["tasks"][task]["num_queries"]["val"]
        batch = next(iter(validation_loader(ds, 3)))
        assert batch.qa_text.ids.shape[0] == 3 * answers and (batch.answer_targets >= 0).all()
        assert (batch.span_targets >= 0).all() and (batch.span_targets[:, 0] <= batch.span_targets[:, 1]).all()


def test_rejects_retrieval_db(demo_manifest):
    with pytest.raises(ValueError, match="retrieval"):
        VideoQaDataset(demo_corpus(demo_manifest), demo_manifest["tasks"]["tvr"]["train"])
