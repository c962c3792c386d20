"""Subtitle db: record format the collate code consumes, reader API, options."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from data.dbs.subtitle_db import SubtitleDb, build_subtitle_db
from data.prepro.alignment import align_subtitles
from data.prepro.annotations import BadInputError
from tests.data.data_helpers import tokenizer, write_jsonl

VIDEOS = [
    {"vid_name": "v1", "sub": [  # unsorted on purpose, with an HTML entity, a shout and a line after the end
        {"text": "WHERE ARE YOU?", "start": 3.2, "end": 5.0},
        {"text": " Chase : Tom &amp; Jerry", "start": 0.5, "end": 2.9},
        {"text": "too late", "start": 9.0, "end": 10.0},
    ]},
    {"vid_name": "v2", "sub": [{"text": "only line", "start": 1.0, "end": 40.0}]},
]
FRAMES = {"v1": 4, "v2": 30, "unused": 5}


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("subs")
    path = write_jsonl(tmp / "subs.jsonl", VIDEOS)
    stats = build_subtitle_db(path, FRAMES, tmp / "db", tokenizer())
    assert stats == {"videos": 2, "subtitles": 3, "dropped_subtitles": 1, "cut_subtitles": 1, "empty_text": 0,
                     "bad": 0}
    return tmp / "db"


def test_record_format(db_path):
    db = SubtitleDb(db_path)
    rec = db["v1"]
    assert set(rec) == {"vid_name", "sub", "input_ids", "frame_owner", "sub2frames", "num_frames"}
    assert rec["vid_name"] == "v1" and rec["num_frames"] == 4
    assert [s["text"] for s in rec["sub"]] == [" Chase : Tom &amp; Jerry", "WHERE ARE YOU?"]  # sorted, raw text
    tok = tokenizer()
    assert rec["input_ids"] == tok.encode_subtitles(["Chase : Tom & Jerry", "where are you?"])
    assert isinstance(rec["frame_owner"], np.ndarray) and rec["frame_owner"].dtype == np.int32
    ali = align_subtitles([0.5, 3.2], [2.9, 5.0], 4, 1.5)
    assert rec["frame_owner"].tolist() == ali.frame_owner.tolist() == [0, 0, 1, 1]
    assert rec["sub2frames"] == ali.sub2frames == [[0, 1], [2, 3]]


def test_long_last_subtitle_cut_in_db(db_path):
    rec = SubtitleDb(db_path)["v2"]
    assert rec["sub2frames"] == [list(range(0, 11))]
    assert rec["frame_owner"].tolist() == [0] * 11 + [-1] * 19


def test_reader_api(db_path):
    db = SubtitleDb(db_path)
    assert db.ids() == ["v1", "v2"] and len(db) == 2 and "v1" in db and "unused" not in db
    assert db.num_frames("v2") == 30 and db.frame_interval == 1.5
    assert db.meta["special_ids"] == {"cls": 101, "sep": 102, "pad": 0, "mask": 103, "unk": 100}
    assert db.meta["vocab_size"] == 30522 and db.meta["tokenizer"]["name"].startswith("nreimers/")
    assert db.id2len == {"v1": sum(map(len, db["v1"]["input_ids"])), "v2": 2}
    clone = pickle.loads(pickle.dumps(db))
    assert clone["v2"]["num_frames"] == 30
    with pytest.raises(KeyError):
        db["nope"]


def test_wrong_db_kind_is_named(db_path):
    from data.dbs.video_db import VideoFeatureDb

    with pytest.raises(ValueError, match="holds 'subtitles' records, not 'video_features'"):
        VideoFeatureDb(db_path)


def test_compressed_and_empty_subtitles(tmp_path):
    path = write_jsonl(tmp_path / "subs.jsonl", [VIDEOS[0], {"vid_name": "silent", "sub": []}])
    with pytest.raises(BadInputError, match="line 2 \\(video silent\\): empty subtitle list"):
        build_subtitle_db(path, {"v1": 4, "silent": 3}, tmp_path / "strict", tokenizer())
    assert not (tmp_path / "strict").exists()
    build_subtitle_db(path, {"v1": 4, "silent": 3}, tmp_path / "db", tokenizer(), compress=True, allow_empty=True)
    db = SubtitleDb(tmp_path / "db")
    assert db.compressed and db["v1"]["frame_owner"].tolist() == [0, 0, 1, 1]
    silent = db["silent"]
    assert silent["sub"] == [] and silent["input_ids"] == [] and silent["frame_owner"].tolist() == [-1, -1, -1]
