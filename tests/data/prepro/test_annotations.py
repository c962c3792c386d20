"""Parsers of the real annotation files: record counts and the format traps of data/README.md."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from data.prepro.annotations import (
    BadInputError,
    BadInputPolicy,
    parse_how2qa,
    parse_how2r,
    parse_subtitles,
    parse_tvqa,
    parse_tvqa_plus,
    parse_tvr,
    read_frame_counts,
)
from tests.data.data_helpers import real_file, write_jsonl

STRICT = BadInputPolicy(skip=False)


def records(parser, name):
    return [rec for _, rec in parser(real_file(name), STRICT)]


def test_tvr_val_counts_and_numeric_spans():
    recs = records(parse_tvr, "tvr_val_release.jsonl")
    assert len(recs) == 10895 and len({r["vid_name"] for r in recs}) == 2179
    assert all(isinstance(x, float) for r in recs for x in r["ts"])  # `ts` may be the int 0 in the file
    assert sum(r["ts"][0] == 0.0 for r in recs) > 1000
    assert all(0 <= r["ts"][0] <= r["ts"][1] <= r["duration"] for r in recs)
    assert Counter(r["type"] for r in recs) == {"v": 8097, "vt": 1834, "t": 964}


def test_tvr_test_has_no_labels():
    recs = records(parse_tvr, "tvr_test_public_release.jsonl")
    assert len(recs) == 5445
    assert all(r["vid_name"] is None and r["ts"] is None and r["duration"] is None for r in recs)


def test_how2r_val_times_become_clip_relative_and_clamped():
    recs = records(parse_how2r, "how2R_val_release.csv")
    assert len(recs) == 4076 and [r["desc_id"] for r in recs] == list(range(4076))
    first = recs[0]  # z0r8QCIuHaM,[180:240],[180.0:187.07],The woman placed the design on the fabric
    assert first["vid_name"] == "z0r8QCIuHaM_180_240" and first["ts"] == [0.0, 7.07]
    assert first["moment"] == [180.0, 187.07] and first["desc"] == "The woman placed the design on the fabric"
    assert all(0.0 <= r["ts"][0] <= r["ts"][1] <= 60.0 for r in recs)
    clamped = [r for r in recs if r["moment_clamped"]]
    assert len(clamped) == 221 and all(r["ts"][1] == 60.0 for r in clamped)
    # the same query on several rows stays several records, each with its own id
    dup = Counter((r["vid_name"], r["desc"]) for r in recs)
    assert sum(c - 1 for c in dup.values()) == 405
    mapping = set(json.loads(real_file("how2_vid_mapping.json").read_text()).values())
    assert {r["vid_name"] for r in recs} <= mapping


def test_how2r_test_public_extra_trailing_column_is_accepted():
    recs = records(parse_how2r, "how2R_test_public_release.csv")
    assert len(recs) == 4019 and recs[0]["ts"] == [0.0, 12.78]


def test_tvqa_test_string_spans_and_missing_labels():
    recs = records(parse_tvqa, "tvqa_test_public.jsonl")
    assert len(recs) == 7623
    assert recs[0]["ts"] == [48.62, 60.02] and recs[0]["ts_raw"] == "48.62-60.02"
    assert all(r["answer_idx"] is None and len(r["answers"]) == 5 for r in recs)
    assert sum(r["ts"] is None for r in recs) == 3  # "NaN-NaN" in the release
    assert all(isinstance(x, float) for r in recs if r["ts"] for x in r["ts"])


def test_tvqa_plus_string_answer_idx_becomes_int():
    raw = json.loads(real_file("tvqa_plus_val.json").read_text())
    recs = records(parse_tvqa_plus, "tvqa_plus_val.json")
    assert len(recs) == 3017
    assert all(type(r["answer_idx"]) is int for r in recs)
    assert [r["answer_idx"] for r in recs] == [int(q["answer_idx"]) for q in raw]
    assert recs[0]["answer_idx"] == 3 and recs[0]["ts"] == [0.0, 5.4]


def test_how2qa_clip_derivation_and_answer_shuffle():
    recs = records(parse_how2qa, "how2QA_val_release.csv")
    assert len(recs) == 2852
    first = recs[0]  # NOuQuofjk44,[7.2:18.0],10,12,16,how many knife is there?,1
    assert first["vid_name"] == "NOuQuofjk44_0_60" and first["ts"] == [7.2, 18.0]
    assert first["answers"][first["answer_idx"]] == "1" and sorted(first["answers"]) == ["1", "10", "12", "16"]
    mapping = set(json.loads(real_file("how2_vid_mapping.json").read_text()).values())
    assert {r["vid_name"] for r in recs} <= mapping  # derived clips are real How2 clips
    positions = Counter(r["answer_idx"] for r in recs)
    assert set(positions) == {0, 1, 2, 3} and min(positions.values()) > 0.2 * len(recs)
    assert all(r["answers"][r["answer_idx"]] == r["correct_answer"] for r in recs)
    assert all(0.0 <= r["ts"][0] <= r["ts"][1] <= 60.0 for r in recs)
    again = records(parse_how2qa, "how2QA_val_release.csv")
    assert [r["answers"] for r in again] == [r["answers"] for r in recs]  # deterministic


def test_how2qa_span_crossing_a_clip_boundary_is_clamped(tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text("abc,[55.0:70.0],w1,w2,w3,q?,right\n")
    (_, rec), = parse_how2qa(path, STRICT)
    assert rec["vid_name"] == "abc_0_60" and rec["ts"] == [55.0, 60.0] and rec["span_clamped"]


def test_bad_lines_name_file_and_line_and_can_be_skipped(tmp_path):
    path = write_jsonl(tmp_path / "subs.jsonl", [
        {"vid_name": "a", "sub": [{"text": "hi", "start": 0, "end": 1}]},
        "{not json",
        {"vid_name": "b"},
        {"vid_name": "c", "sub": [{"text": "x", "start": 2, "end": 1}]},
    ])
    with pytest.raises(BadInputError) as e:
        list(parse_subtitles(path, STRICT))
    assert str(e.value).startswith(f"{path}: line 2: malformed JSON")
    messages = []
    policy = BadInputPolicy(skip=True, log=messages.append)
    assert [rec["vid_name"] for _, rec in parse_subtitles(path, policy)] == ["a"]
    assert policy.count == 3
    assert "line 3: missing field 'sub'" in messages[1] and "line 4: subtitle 0: time ends before" in messages[2]


def test_frame_counts_from_json_or_video_db_folder(tmp_path):
    (tmp_path / "counts.json").write_text('{"a": 3, "b": 4.0}')
    assert read_frame_counts(tmp_path / "counts.json") == {"a": 3, "b": 4}
    (tmp_path / "id2nframe.json").write_text('{"a": 5}')
    assert read_frame_counts(tmp_path) == {"a": 5}
    (tmp_path / "bad.json").write_text('{"a": 2.5}')
    with pytest.raises(BadInputError, match="frame count of 'a' must be an integer"):
        read_frame_counts(tmp_path / "bad.json")
