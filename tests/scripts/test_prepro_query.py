"""scripts/prepro_query.py on every real annotation format, plus one test per bad-input case."""

from __future__ import annotations

import json

import pytest

from data.dbs.query_db import QueryDb
from data.prepro.tokenization import default_tokenizer_path
from scripts.prepro_query import main
from tests.data.data_helpers import real_file, summary_line, tokenizer, write_jsonl

TOK = ["--tokenizer", str(default_tokenizer_path())]


def run(capsys, *args):
    assert main([*args, *TOK]) == 0
    return summary_line(capsys.readouterr().out)


def test_tvr_val(tmp_path, capsys):
    line = run(capsys, "--format", "tvr", "--annotation", str(real_file("tvr_val_release.jsonl")),
               "--output", str(tmp_path / "db"), "--video-index", str(real_file("tvr_video2dur_idx.json")))
    assert line.startswith("wrote 10895 queries over 2179 videos (10895 labelled), skipped 0 bad")
    db = QueryDb(tmp_path / "db")
    assert len(db) == 10895 and len(db.video2queries) == 2179 and db.has_labels
    rec = db[90200]  # first line of the file
    assert rec["vid_name"] == "friends_s01e03_seg02_clip_19" and rec["ts"] == [16.48, 33.87]
    assert rec["input_ids"] == tokenizer().encode_queries(["Phoebe puts one of her ponytails in her mouth."])[0]
    assert db[94603]["ts"] == [0.0, 2.29] and isinstance(db[94603]["ts"][0], float)  # int 0 in the file
    assert len(db.video2idx) == 17435 + 2179 + 1089 + 1090


def test_tvr_video_split_restricts_the_candidates(tmp_path, capsys):
    index = real_file("tvr_video2dur_idx.json")
    val_videos = json.loads(index.read_text())["val"]
    path = write_jsonl(tmp_path / "tvr.jsonl", [{**TVR_OK, "vid_name": v, "desc_id": i}
                                                for i, v in enumerate(list(val_videos)[:3])])
    args = ["--format", "tvr", "--annotation", str(path), "--video-index", str(index)]
    run(capsys, *args, "--output", str(tmp_path / "val"), "--video-split", "val")
    assert QueryDb(tmp_path / "val").video2idx == {v: d[1] for v, d in val_videos.items()}
    message = _fail(capsys, *args, "--output", str(tmp_path / "train"), "--video-split", "train")
    assert message.startswith(f"error: {path}: 3 queries are on videos missing from split 'train' of {index}")
    message = _fail(capsys, *args, "--output", str(tmp_path / "x"), "--video-split", "dev")
    assert message == f"error: {index}: has no split 'dev'; it has test_challenge, test_public, train, val"
    assert not (tmp_path / "train").exists() and not (tmp_path / "x").exists()


def test_how2r_val_and_test(tmp_path, capsys):
    line = run(capsys, "--format", "how2r", "--annotation", str(real_file("how2R_val_release.csv")),
               "--output", str(tmp_path / "val"))
    assert line.startswith("wrote 4076 queries over 3590 videos (4076 labelled), skipped 0 bad")
    db = QueryDb(tmp_path / "val")
    assert db[0]["ts"] == [0.0, 7.07] and db[0]["moment"] == [180.0, 187.07]  # absolute → clip-relative
    assert all(0.0 <= db[i]["ts"][1] <= 60.0 for i in range(0, 4076, 97))
    line = run(capsys, "--format", "how2r", "--annotation", str(real_file("how2R_test_public_release.csv")),
               "--output", str(tmp_path / "test"))
    assert line.startswith("wrote 4019 queries")


def test_tvqa_test_without_labels(tmp_path, capsys):
    line = run(capsys, "--format", "tvqa", "--annotation", str(real_file("tvqa_test_public.jsonl")),
               "--output", str(tmp_path / "db"))
    assert line.startswith("wrote 7623 queries over 1089 videos (0 labelled), skipped 0 bad")
    db = QueryDb(tmp_path / "db")
    rec = db[137292]
    assert rec["ts"] == [48.62, 60.02] and rec["answer_idx"] is None and len(rec["input_ids"]) == 6
    assert db.is_qa and not db.has_labels and db.id2len["137292"] == [len(x) for x in rec["input_ids"]]


def test_tvqa_plus_val(tmp_path, capsys):
    line = run(capsys, "--format", "tvqa_plus", "--annotation", str(real_file("tvqa_plus_val.json")),
               "--output", str(tmp_path / "db"))
    assert line.startswith("wrote 3017 queries over 431 videos (3017 labelled)")
    rec = QueryDb(tmp_path / "db")[133290]
    assert rec["answer_idx"] == 3 and type(rec["answer_idx"]) is int and rec["ts"] == [0.0, 5.4]


def test_how2qa_val(tmp_path, capsys):
    line = run(capsys, "--format", "how2qa", "--annotation", str(real_file("how2QA_val_release.csv")),
               "--output", str(tmp_path / "db"))
    assert line.startswith("wrote 2852 queries over 2815 videos (2852 labelled), skipped 0 bad")
    db = QueryDb(tmp_path / "db")
    rec = db[0]
    assert rec["vid_name"] == "NOuQuofjk44_0_60" and rec["answers"][rec["answer_idx"]] == "1"
    assert len(rec["input_ids"]) == 5  # question + 4 answers
    assert {db[i]["answer_idx"] for i in range(40)} == {0, 1, 2, 3}


# -- bad input: one clear line, or skipped and counted with --skip-bad -------------------------------

TVR_OK = {"vid_name": "v", "duration": 10.0, "ts": [1, 2], "desc": "ok", "type": "v", "desc_id": 1}


def _fail(capsys, *args):
    with pytest.raises(SystemExit) as e:
        main([*args, *TOK])
    return str(e.value.code)


@pytest.mark.parametrize(
    "bad_line, problem",
    [("{\"desc\": oops", "line 2: malformed JSON"),
     (json.dumps({"desc_id": 2, "vid_name": "v"}), "line 2: missing field 'desc'"),
     (json.dumps({**TVR_OK, "desc_id": 3, "ts": [5, 1]}), "line 2: ts ends before it starts"),
     (json.dumps({**TVR_OK, "desc_id": "x"}), "line 2: desc_id must be a number"),
     (json.dumps(TVR_OK), "line 2: duplicate desc_id 1 (first at line 1)"),
     (json.dumps({**TVR_OK, "desc_id": 4, "desc": "   "}), "line 2: desc_id 4: empty desc text")],
)
def test_bad_tvr_line(tmp_path, capsys, bad_line, problem):
    path = write_jsonl(tmp_path / "tvr.jsonl", [TVR_OK, bad_line, {**TVR_OK, "desc_id": 9}])
    message = _fail(capsys, "--format", "tvr", "--annotation", str(path), "--output", str(tmp_path / "db"))
    assert message.startswith(f"error: {path}: {problem}") and "\n" not in message
    assert not (tmp_path / "db").exists()
    line = run(capsys, "--format", "tvr", "--annotation", str(path), "--output", str(tmp_path / "db"), "--skip-bad")
    assert line.startswith("wrote 2 queries over 1 videos (2 labelled), skipped 1 bad")


def test_bad_tvqa_plus_answer_idx(tmp_path, capsys):
    raw = json.loads(real_file("tvqa_plus_val.json").read_text())[:3]
    raw[1]["answer_idx"] = "7"
    path = tmp_path / "tvqa_plus.json"
    path.write_text(json.dumps(raw))
    message = _fail(capsys, "--format", "tvqa_plus", "--annotation", str(path), "--output", str(tmp_path / "db"))
    assert message == f"error: {path}: item 1: answer_idx 7 out of range 0..4"
    line = run(capsys, "--format", "tvqa_plus", "--annotation", str(path), "--output", str(tmp_path / "db"),
               "--skip-bad")
    assert "wrote 2 queries" in line and "skipped 1 bad" in line


@pytest.mark.parametrize(
    "row, problem",
    [("abc,[0:60],[1.0:2.0]", "line 2: expected 4 columns (youtube_id, [clip], [moment], query), got 3"),
     ("abc,[0:60],[1.0-2.0],a query", "line 2: moment must look like '[start:end]', got '[1.0-2.0]'")],
)
def test_bad_how2r_rows(tmp_path, capsys, row, problem):
    path = tmp_path / "how2r.csv"
    path.write_text(f"abc,[0:60],[1.0:2.0],first\n{row}\nabc,[0:60],[3.0:4.0],third\n")
    message = _fail(capsys, "--format", "how2r", "--annotation", str(path), "--output", str(tmp_path / "db"))
    assert message == f"error: {path}: {problem}"
    line = run(capsys, "--format", "how2r", "--annotation", str(path), "--output", str(tmp_path / "db"),
               "--skip-bad")
    assert line.startswith("wrote 2 queries over 1 videos (2 labelled), skipped 1 bad")


def test_existing_output_needs_overwrite(tmp_path, capsys):
    path = write_jsonl(tmp_path / "tvr.jsonl", [TVR_OK])
    args = ["--format", "tvr", "--annotation", str(path), "--output", str(tmp_path / "db")]
    run(capsys, *args)
    assert _fail(capsys, *args) == f"error: {tmp_path / 'db'} already exists; pass --overwrite to replace it"
    assert run(capsys, *args, "--overwrite").startswith("wrote 1 queries")


def test_moments_past_the_video_end_are_counted(tmp_path, capsys):
    path = write_jsonl(tmp_path / "tvr.jsonl", [TVR_OK, {**TVR_OK, "desc_id": 2, "ts": [1.0, TVR_OK["duration"] + 5]}])
    assert main(["--format", "tvr", "--annotation", str(path), "--output", str(tmp_path / "db"), *TOK]) == 0
    assert "; 1 moments end after their video's duration" in capsys.readouterr().out
