"""Answers and timestamps of every QA annotation format, read through the query db and the dataset:
TVQA (``ts`` string, int ``answer_idx``), TVQA+ (``ts`` list, string ``answer_idx``), TVQA test (no
labels) and How2QA (absolute span → clip-relative)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from data.dbs.corpus import VideoCorpus
from data.dbs.query_db import QueryDb, build_query_db
from data.loading.qa_datasets import VideoQaDataset
from tests.data.data_helpers import tokenizer, write_jsonl
from tests.data.dbs.test_corpus import T, write_hand_dbs

TV_CLIP, HOW2_CLIP = "s01e01_seg01_clip_00", "abc_60_120"  # How2 clip of the span [61.5, 66] s
ANSWERS = {f"a{i}": f"answer {i}" for i in range(5)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("qa_formats")
    owner = [0] * 10 + [1] * 10 + [-1] * 20  # 40 frames of 1.5 s = 60 s
    return VideoCorpus(*write_hand_dbs(root, {TV_CLIP: {"owner": owner, "tokens": T[:2]},
                                              HOW2_CLIP: {"owner": owner, "tokens": T[:2]}}))


def _labels(corpus, db_path):
    db = QueryDb(db_path)
    dataset = VideoQaDataset(corpus, db, training=False)
    rng = np.random.default_rng(0)
    examples = [dataset.example(i, rng) for i in range(len(dataset))]
    return db, dataset, [(e.answer_target, tuple(e.span_target)) for e in examples]


def test_tvqa_string_ts_and_int_answer(corpus, tmp_path):
    rows = [{"qid": 5, "q": "who is it ?", **ANSWERS, "answer_idx": 2, "ts": "3-7.5", "vid_name": TV_CLIP,
             "show_name": "Friends"},
            {"qid": 6, "q": "why ?", **ANSWERS, "answer_idx": 0, "ts": "NaN-NaN", "vid_name": TV_CLIP,
             "show_name": "Friends"}]
    build_query_db(write_jsonl(tmp_path / "tvqa.jsonl", rows), "tvqa", tmp_path / "db", tokenizer())
    db, _, labels = _labels(corpus, tmp_path / "db")
    assert db["5"]["ts"] == [3.0, 7.5] and db["5"]["answer_idx"] == 2 and db["5"]["show_name"] == "Friends"
    assert db["6"]["ts"] is None and db.has_labels
    # frames of 1.5 s: st = floor(3 / 1.5) = 2, ed = ceil(7.5 / 1.5) − 1 = 4; "NaN-NaN" → unknown
    assert labels == [(2, (2, 4)), (0, (-1, -1))]


def test_tvqa_plus_list_ts_and_string_answer(corpus, tmp_path):
    rows = [{"qid": 9, "q": "what is that ?", **ANSWERS, "answer_idx": "3", "ts": [1.5, 6.0],
             "vid_name": TV_CLIP, "show_name": "The Big Bang Theory", "bbox": {}}]
    (tmp_path / "tvqa_plus.json").write_text(json.dumps(rows))
    build_query_db(tmp_path / "tvqa_plus.json", "tvqa_plus", tmp_path / "db", tokenizer())
    db, _, labels = _labels(corpus, tmp_path / "db")
    assert db["9"]["answer_idx"] == 3 and db["9"]["ts"] == [1.5, 6.0]
    assert labels == [(3, (1, 3))]


def test_tvqa_test_split_without_labels(corpus, tmp_path):
    rows = [{"qid": 11, "q": "where ?", **ANSWERS, "ts": "0-3", "vid_name": TV_CLIP, "show_name": "House"}]
    build_query_db(write_jsonl(tmp_path / "test.jsonl", rows), "tvqa", tmp_path / "db", tokenizer())
    db, dataset, labels = _labels(corpus, tmp_path / "db")
    assert not db.has_labels and labels == [(-1, (0, 1))]
    assert dataset.question_ids == ["11"]


def test_how2qa_absolute_span_becomes_clip_relative(corpus, tmp_path):
    (tmp_path / "how2qa.csv").write_text("abc,[61.5:66.0],wrong one,wrong two,wrong three,what is it?,right\n")
    build_query_db(tmp_path / "how2qa.csv", "how2qa", tmp_path / "db", tokenizer())
    db, dataset, labels = _labels(corpus, tmp_path / "db")
    record = db["0"]
    assert record["vid_name"] == HOW2_CLIP and record["ts"] == [1.5, 6.0]
    assert record["answers"][record["answer_idx"]] == "right" and len(record["answers"]) == 4
    assert dataset.num_answers == 4 and labels == [(record["answer_idx"], (1, 3))]
