"""scripts/prepro_sub.py: a corpus made from the real TVR timings, and one test per bad-input case."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from data.dbs.subtitle_db import SubtitleDb
from data.prepro.alignment import align_subtitles
from data.prepro.tokenization import default_tokenizer_path
from scripts.prepro_sub import main
from tests.data.data_helpers import real_file, summary_line, tokenizer, write_jsonl

TOK = ["--tokenizer", str(default_tokenizer_path())]


def run(capsys, *args):
    assert main([*args, *TOK]) == 0
    return summary_line(capsys.readouterr().out)


def fail(*args):
    with pytest.raises(SystemExit) as e:
        main([*args, *TOK])
    return str(e.value.code)


def test_real_tvr_timings_as_subtitles(tmp_path, capsys):
    """No real subtitle file is available here: the real TVR val descriptions, with their real times and
    clip durations, stand in for subtitle lines (2,179 clips, 10,895 lines, overlapping, unsorted)."""
    by_vid: dict[str, list] = {}
    with open(real_file("tvr_val_release.jsonl"), encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            by_vid.setdefault(q["vid_name"], []).append({"text": q["desc"], "start": q["ts"][0], "end": q["ts"][1]})
    write_jsonl(tmp_path / "subs.jsonl", [{"vid_name": v, "sub": s} for v, s in by_vid.items()])
    durations = json.loads(real_file("tvr_video2dur_idx.json").read_text())["val"]
    counts = {v: math.ceil(d / 1.5) for v, (d, _) in durations.items()}
    (tmp_path / "frames.json").write_text(json.dumps(counts))
    line = run(capsys, "--subtitles", str(tmp_path / "subs.jsonl"), "--frame-counts", str(tmp_path / "frames.json"),
               "--output", str(tmp_path / "db"), "--frame_interval", "1.5")
    assert line.startswith("wrote 2179 videos, 10895 subtitles")
    assert "skipped 0 bad" in line
    db = SubtitleDb(tmp_path / "db")
    assert len(db) == 2179 and db.meta["num_subtitles"] == 10895
    vid = "friends_s01e03_seg02_clip_19"
    rec = db[vid]
    subs = sorted(by_vid[vid], key=lambda s: s["start"])
    assert [s["text"] for s in rec["sub"]] == [s["text"] for s in subs]
    ali = align_subtitles([s["start"] for s in subs], [s["end"] for s in subs], counts[vid], 1.5)
    np.testing.assert_array_equal(rec["frame_owner"], ali.frame_owner)
    assert rec["num_frames"] == db.num_frames(vid) == counts[vid] == len(rec["frame_owner"])
    assert rec["input_ids"] == tokenizer().encode_subtitles([s["text"] for s in subs])


GOOD = {"vid_name": "a", "sub": [{"text": "hello", "start": 0.0, "end": 1.0}]}


@pytest.mark.parametrize(
    "bad_line, problem",
    [("{\"vid_name\": \"b\", \"sub\": [", "line 2: malformed JSON"),
     (json.dumps({"vid_name": "b"}), "line 2: missing field 'sub'"),
     (json.dumps({"vid_name": "b", "sub": [{"text": "x", "start": 1.0}]}), "line 2: subtitle 0: missing field 'end'"),
     (json.dumps({"vid_name": "nofeat", "sub": GOOD["sub"]}),
      "line 2 (video nofeat): no frame count for this video in"),
     (json.dumps({"vid_name": "b", "sub": []}), "line 2 (video b): empty subtitle list"),
     (json.dumps(GOOD), "line 2: duplicate video 'a' (first at line 1)")],
)
def test_bad_subtitle_line(tmp_path, capsys, bad_line, problem):
    path = write_jsonl(tmp_path / "subs.jsonl", [GOOD, bad_line, {**GOOD, "vid_name": "c"}])
    (tmp_path / "frames.json").write_text(json.dumps({"a": 3, "b": 3, "c": 3}))
    args = ["--subtitles", str(path), "--frame-counts", str(tmp_path / "frames.json"), "--output", str(tmp_path / "db")]
    message = fail(*args)
    assert message.startswith(f"error: {path}: {problem}") and "\n" not in message
    assert not (tmp_path / "db").exists()
    line = run(capsys, *args, "--skip-bad")
    assert line.startswith("wrote 2 videos, 2 subtitles") and "skipped 1 bad" in line
    assert SubtitleDb(tmp_path / "db").ids() == ["a", "c"]


def test_skip_bad_counts_every_bad_video_and_warns(tmp_path, capsys):
    path = write_jsonl(tmp_path / "subs.jsonl",
                       [GOOD, "oops", {"vid_name": "e", "sub": []}, {"vid_name": "x", "sub": []}])
    (tmp_path / "frames.json").write_text(json.dumps({"a": 3, "e": 2}))
    assert main(["--subtitles", str(path), "--frame-counts", str(tmp_path / "frames.json"),
                 "--output", str(tmp_path / "db"), "--skip-bad", *TOK]) == 0
    out, err = capsys.readouterr()
    assert "skipped 3 bad" in summary_line(out)
    assert err.count("warning: skipped bad input:") == 3


def test_allow_empty_sub_and_video_db_frame_counts(tmp_path, capsys):
    video_db = tmp_path / "video_db"
    video_db.mkdir()
    (video_db / "id2nframe.json").write_text(json.dumps({"a": 4, "e": 2}))  # a video db's frame counts
    path = write_jsonl(tmp_path / "subs.jsonl", [GOOD, {"vid_name": "e", "sub": []}])
    line = run(capsys, "--subtitles", str(path), "--frame-counts", str(video_db), "--output", str(tmp_path / "db"),
               "--allow-empty-sub")
    assert line.startswith("wrote 2 videos, 1 subtitles")
    assert SubtitleDb(tmp_path / "db")["e"]["frame_owner"].tolist() == [-1, -1]
    assert fail("--subtitles", str(path), "--frame-counts", str(tmp_path / "nope.json"),
                "--output", str(tmp_path / "db2")) == f"error: {tmp_path / 'nope.json'}: frame-count file not found"


def test_subtitles_without_text_are_kept_and_counted(tmp_path, capsys):
    path = write_jsonl(tmp_path / "subs.jsonl", [{"vid_name": "a", "sub": [{"text": "hi there", "start": 0, "end": 1},
                                                                           {"text": " ", "start": 1, "end": 3}]}])
    (tmp_path / "frames.json").write_text(json.dumps({"a": 4}))
    line = run(capsys, "--subtitles", str(path), "--frame-counts", str(tmp_path / "frames.json"),
               "--output", str(tmp_path / "db"))
    assert line.startswith("wrote 1 videos, 2 subtitles")
    assert line.endswith("; 1 subtitles have no text (kept: they own frames)")


def _video_db(path, frames: dict[str, int], dim: int = 8):
    from data.dbs.video_db import build_video_db
    rng = np.random.default_rng(0)
    build_video_db(((v, rng.standard_normal((n, dim), dtype=np.float32)) for v, n in frames.items()), path)
    return path


def test_srt_and_vtt_files_beside_the_videos(tmp_path, capsys):
    """A folder of videos with .srt / .vtt files of the same name (one video without): a subtitle db over a real
    video db that tasks/corpus.py opens, every video of the video db in it."""
    from config.schema import ClipOptions
    from tasks.corpus import open_corpus
    videos = tmp_path / "videos"
    videos.mkdir()
    video_db = _video_db(tmp_path / "video_db", {"cooking": 8, "interview": 6, "silent": 5})
    (videos / "cooking.srt").write_text(
        "1\r\n00:00:00,500 --> 00:00:04,000\r\n<i>First</i> chop the onions\r\nvery finely.\r\n\r\n"
        "2\r\n00:00:03,000 --> 00:00:07,250\r\nThen heat the pan.\r\n\r\n"  # overlaps cue 1
        "3\r\n00:01:00,000 --> 00:01:02,000\r\nafter the video end\r\n", encoding="utf-8")
    (videos / "interview.vtt").write_text("WEBVTT\n\nNOTE asr output\n\n00:01.000 --> 00:05.000 align:start\n"
                                          "<v Host>Welcome back to the show.\n", encoding="utf-8")
    (videos / "unrelated.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nnobody's\n", encoding="utf-8")
    assert main(["--srt-dir", str(videos), "--frame-counts", str(video_db), "--output", str(tmp_path / "db"),
                 *TOK]) == 0
    out, err = capsys.readouterr()
    line = summary_line(out)
    assert line.startswith("wrote 3 videos, 3 subtitles (1 after the video end dropped")
    assert line.endswith("; 1 videos without a subtitle file, 1 subtitle files of no video")
    assert f"warning: {videos / 'unrelated.srt'} matches no video of {video_db}; not used" in err
    db = SubtitleDb(tmp_path / "db")
    cooking = db["cooking"]
    assert [s["text"] for s in cooking["sub"]] == ["First chop the onions very finely.", "Then heat the pan."]
    ali = align_subtitles([0.5, 3.0], [4.0, 7.25], 8, 1.5)
    np.testing.assert_array_equal(cooking["frame_owner"], ali.frame_owner)
    assert cooking["frame_owner"].tolist() == [0, 0, 1, 1, 1, -1, -1, -1]  # frame 2 goes to the better overlap
    assert cooking["input_ids"] == tokenizer().encode_subtitles([s["text"] for s in cooking["sub"]])
    assert db["interview"]["sub"] == [{"text": "Welcome back to the show.", "start": 1.0, "end": 5.0}]
    assert db["silent"]["sub"] == [] and db["silent"]["frame_owner"].tolist() == [-1] * 5
    corpus = open_corpus(str(tmp_path / "db"), str(video_db), ClipOptions(max_clip_len=100))
    assert corpus.ids() == ["cooking", "interview", "silent"]
    item = corpus.video_item("silent")
    assert item.frame_feats.shape == (5, 8) and item.subtitle_ids == [] and (item.frame_owner == -1).all()
    assert corpus.video_item("cooking").subtitle_ids[1][0] == corpus.token_ids.sep


def test_a_bad_subtitle_file_names_file_and_cue(tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    video_db = _video_db(tmp_path / "video_db", {"good": 4, "broken": 4})
    (videos / "good.srt").write_text("1\n00:00:00,000 --> 00:00:03,000\nfine\n", encoding="utf-8")
    (videos / "broken.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nok\n\n00:02.000 --> 00:03,0x0\nbad\n",
                                       encoding="utf-8")
    args = ["--srt-dir", str(videos), "--frame-counts", str(video_db), "--output", str(tmp_path / "db")]
    assert fail(*args) == f"error: {videos / 'broken.vtt'}: cue 2 (line 6): malformed timestamp '00:03,0x0' " \
        "(expected hh:mm:ss,mmm or hh:mm:ss.mmm)"
    assert not (tmp_path / "db").exists()
    line = run(capsys, *args, "--skip-bad")
    assert line.startswith("wrote 1 videos, 1 subtitles") and "skipped 1 bad" in line
    assert SubtitleDb(tmp_path / "db").ids() == ["good"]


def test_asr_jsonl_with_whisper_segments(tmp_path, capsys):
    path = write_jsonl(tmp_path / "asr.jsonl", [{"vid_name": "a", "language": "en", "segments": [
        {"id": 0, "start": 0.0, "end": 2.0, "text": " Hello and welcome.", "avg_logprob": -0.2},
        {"id": 1, "start": 2.0, "end": 4.5, "text": " Today we cook."}]}])
    (tmp_path / "frames.json").write_text(json.dumps({"a": 3}))
    line = run(capsys, "--subtitles", str(path), "--frame-counts", str(tmp_path / "frames.json"),
               "--output", str(tmp_path / "db"))
    assert line.startswith("wrote 1 videos, 2 subtitles")
    assert [s["text"] for s in SubtitleDb(tmp_path / "db")["a"]["sub"]] == [" Hello and welcome.", " Today we cook."]
