"""evaluation/free_text_search.py without a model: the cache key's inputs, the printed and written results."""
import json
import os

from evaluation.free_text_search import Moment, corpus_cache_key, db_identity, format_moments, write_search_results


def test_cache_key_follows_checkpoint_dbs_and_settings_not_reads(tmp_path):
    ckpt, sub, vid = tmp_path / "model.pt", tmp_path / "sub", tmp_path / "vid"
    ckpt.write_bytes(b"weights")
    for db in (sub, vid):
        db.mkdir()
        (db / "data.mdb").write_bytes(b"records")
        (db / "meta.json").write_text("{}")
    key = corpus_cache_key(ckpt, sub, vid, {"max_clip_len": 100})
    (vid / "lock.mdb").write_bytes(b"readers")  # LMDB's reader table changes on reads: not part of the identity
    assert corpus_cache_key(ckpt, sub, vid, {"max_clip_len": 100}) == key
    assert corpus_cache_key(ckpt, sub, vid, {"max_clip_len": 50}) != key
    assert corpus_cache_key(ckpt, vid, sub, {"max_clip_len": 100}) != key  # which db is which matters
    stat = (vid / "data.mdb").stat()
    os.utime(vid / "data.mdb", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # rewritten, same size
    assert corpus_cache_key(ckpt, sub, vid, {"max_clip_len": 100}) != key
    before = db_identity(sub)
    (sub / "id2len.json").write_text("{}")  # a side file added
    assert db_identity(sub) != before
    key = corpus_cache_key(ckpt, sub, vid, {})
    ckpt.write_bytes(b"other weights")
    assert corpus_cache_key(ckpt, sub, vid, {}) != key


def test_results_printed_and_written(tmp_path):
    moments = [Moment("long_video_name", 1.5, 6.0, 2.25), Moment("v", 0.0, 3.0, 1.0)]
    text = format_moments("a man opens the door", moments)
    assert text.splitlines() == ["query: a man opens the door",
                                 "    1  long_video_name       1.50 s       6.00 s  score 2.2500",
                                 "    2  v                     0.00 s       3.00 s  score 1.0000"]
    assert format_moments("nothing", []).splitlines()[1] == "  (no moment)"
    write_search_results(tmp_path / "out" / "moments.jsonl", [("a man opens the door", moments), ("nothing", [])])
    rows = [json.loads(line) for line in (tmp_path / "out" / "moments.jsonl").read_text().splitlines()]
    assert rows == [{"query": "a man opens the door", "moments": [
        {"rank": 1, "video": "long_video_name", "start": 1.5, "end": 6.0, "score": 2.25},
        {"rank": 2, "video": "v", "start": 0.0, "end": 3.0, "score": 1.0}]}, {"query": "nothing", "moments": []}]
