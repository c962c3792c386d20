"""Query db reader API on small hand-written files (the real files are covered in tests/scripts)."""

from __future__ import annotations

import json
import pickle

import pytest

from data.dbs.query_db import QueryDb, build_query_db
from data.prepro.annotations import BadInputError
from tests.data.data_helpers import tokenizer, write_jsonl


def test_retrieval_db_api(tmp_path):
    path = write_jsonl(tmp_path / "tvr.jsonl", [
        {"vid_name": "v1", "duration": 30.0, "ts": [0, 2.5], "desc": "A man sits.", "type": "v", "desc_id": 7},
        {"vid_name": "v1", "duration": 30.0, "ts": [3.0, 9.0], "desc": "He stands.", "type": "t", "desc_id": 8},
        {"vid_name": "v2", "duration": 20.0, "ts": [1.0, 2.0], "desc": "Rain.", "type": "vt", "desc_id": 9},
    ])
    counts = build_query_db(path, "tvr", tmp_path / "db", tokenizer())
    assert counts == {"queries": 3, "videos": 2, "labelled": 3, "bad": 0, "past_end": 0}
    db = QueryDb(tmp_path / "db")
    assert db.ids() == ["7", "8", "9"] and len(db) == 3 and 7 in db and "7" in db
    rec = db[7]
    assert rec == db["7"] and rec["ts"] == [0.0, 2.5] and rec["desc"] == "A man sits."
    assert rec["input_ids"] == tokenizer().encode_queries(["A man sits."])[0]
    assert db.id2len["7"] == len(rec["input_ids"])
    assert db.query2video == {"7": "v1", "8": "v1", "9": "v2"}
    assert db.video2queries == {"v1": ["7", "8"], "v2": ["9"]}
    assert not db.is_qa and db.has_labels and db.format == "tvr" and db.video2idx is None
    assert db.special_ids["cls"] == 101
    data = [json.loads(line) for line in (tmp_path / "db" / "query_data.jsonl").read_text().splitlines()]
    assert [d["desc_id"] for d in data] == [7, 8, 9] and "input_ids" not in data[0]
    assert pickle.loads(pickle.dumps(db))[9]["vid_name"] == "v2"


def test_qa_db_api_and_video_index(tmp_path):
    q = {"a0": "yes", "a1": "no", "a2": "maybe", "a3": "later", "a4": "never", "q": "Is it?", "qid": 5,
         "show_name": "Friends", "ts": "1.5-3.25", "vid_name": "friends_clip", "answer_idx": 1}
    path = write_jsonl(tmp_path / "tvqa.jsonl", [q, {**q, "qid": 6, "answer_idx": None, "ts": "NaN-NaN"}])
    index = tmp_path / "index.json"
    index.write_text(json.dumps({"val": {"friends_clip": [60.0, 17]}}))
    build_query_db(path, "tvqa", tmp_path / "db", tokenizer(), video_index=index)
    db = QueryDb(tmp_path / "db")
    rec = db[5]
    assert rec["ts"] == [1.5, 3.25] and rec["answer_idx"] == 1
    assert rec["answers"] == ["yes", "no", "maybe", "later", "never"]
    assert rec["input_ids"] == tokenizer().encode_queries(["Is it?", "yes", "no", "maybe", "later", "never"])
    assert db.id2len["5"] == [len(x) for x in rec["input_ids"]]
    assert db[6]["ts"] is None and db[6]["answer_idx"] is None
    assert db.is_qa and not db.has_labels and db.video2idx == {"friends_clip": 17}


def test_duplicate_ids_are_bad_records(tmp_path):
    row = {"desc": "x", "desc_id": 1}
    path = write_jsonl(tmp_path / "tvr.jsonl", [row, row])
    with pytest.raises(BadInputError, match="line 2: duplicate desc_id 1 \\(first at line 1\\)"):
        build_query_db(path, "tvr", tmp_path / "db", tokenizer())
    counts = build_query_db(path, "tvr", tmp_path / "db", tokenizer(), skip_bad=True, log=lambda m: None)
    assert counts["queries"] == 1 and counts["bad"] == 1 and counts["labelled"] == 0
