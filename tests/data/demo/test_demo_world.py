"""The demo corpus: bundled subset, build from scratch, every db readable, and a real learning signal."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from data.dbs.query_db import QueryDb
from data.dbs.storage import directory_size
from data.dbs.subtitle_db import SubtitleDb
from data.dbs.video_db import VideoFeatureDb
from data.demo.bundle import BUNDLE_FILES, DEMO_DIR
from data.demo.world import FeatureProjector, assign_roles, build_demo_corpus, load_clips, resolve_manifest
from tests.data.data_helpers import tokenizer

DIM = 32


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "corpus"
    t0 = time.time()
    manifest = build_demo_corpus(out, feature_dim=DIM, seed=0, tokenizer=tokenizer(), log=lambda m: None)
    assert time.time() - t0 < 60
    return out, manifest


def test_bundle_is_small_and_attributed():
    assert directory_size(DEMO_DIR) <= 5 * 2**20
    assert all((DEMO_DIR / name).is_file() for name in BUNDLE_FILES.values())
    note = (DEMO_DIR / "ATTRIBUTION.md").read_text()
    assert "CC BY-NC-SA 4.0" in note and "research" in note


def test_manifest_lists_every_db(corpus):
    out, manifest = corpus
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert manifest["feature_dim"] == DIM and set(manifest["corpora"]) == {"tv", "how2"}
    assert set(manifest["tasks"]) == {"tvr", "how2r", "tvqa", "how2qa"}
    resolved = resolve_manifest(out)
    for corpus_name, c in resolved["corpora"].items():
        videos, subs = VideoFeatureDb(c["video_db"]), SubtitleDb(c["subtitle_db"])
        assert len(videos) == len(subs) == c["num_videos"] > 100
        vid = subs.ids()[0]
        rec = subs[vid]
        assert videos[vid].shape == (subs.num_frames(vid), DIM) == (len(rec["frame_owner"]), DIM)
        assert rec["sub"] and len(rec["input_ids"]) == len(rec["sub"]) == len(rec["sub2frames"])
        assert (rec["frame_owner"] >= 0).any()
    for task, t in resolved["tasks"].items():
        for split in ("train", "val"):
            db = QueryDb(t[split])
            assert len(db) == t["num_queries"][split] > 10, (task, split)
            rec = db[db.ids()[0]]
            assert rec["input_ids"] and rec["ts"] is not None and db.has_labels
            assert rec["vid_name"] in VideoFeatureDb(resolved["corpora"][t["corpus"]]["video_db"])
            if db.is_qa:
                assert len(rec["input_ids"]) == 1 + len(rec["answers"])
        train, val = QueryDb(t["train"]), QueryDb(t["val"])
        assert not set(train.video2queries) & set(val.video2queries)  # splits are by clip
        if not train.is_qa:  # retrieval: each split ranks its own clips (TVR's vid2dur_idx[split])
            assert set(val.video2queries) <= set(val.video2idx) and not set(val.video2idx) & set(train.video2idx)
            assert set(val.video2idx.values()).isdisjoint(train.video2idx.values())


def test_held_out_queries_are_visible_in_their_frames_only(corpus):
    out, manifest = corpus
    resolved = resolve_manifest(out)
    projector = FeatureProjector(DIM, seed=0)
    videos = VideoFeatureDb(resolved["corpora"]["tv"]["video_db"])
    subs = SubtitleDb(resolved["corpora"]["tv"]["subtitle_db"])
    queries = QueryDb(resolved["tasks"]["tvr"]["val"])
    inside, outside, hits = [], [], 0
    for qid in queries.ids():
        rec = queries[qid]
        sub_events = {(s["text"], s["start"], s["end"]) for s in subs[rec["vid_name"]]["sub"]}
        assert (rec["desc"], *rec["ts"]) not in sub_events  # a held-out event is not also a subtitle
        score = videos[rec["vid_name"]] @ projector.text_vector(rec["desc"])
        mask = np.zeros(len(score), bool)
        mask[int(rec["ts"][0] // 1.5): max(int(np.ceil(rec["ts"][1] / 1.5)), int(rec["ts"][0] // 1.5) + 1)] = True
        inside.append(score[mask].mean())
        outside.extend(score[~mask])
        hits += bool(mask[np.argmax(score)])
    assert np.mean(inside) > np.mean(outside) + 3 * np.std(outside) / np.sqrt(len(inside))
    assert hits / len(inside) > 0.7


def test_world_is_deterministic_and_subtitles_are_not_queries():
    a, b = load_clips(), load_clips()
    assign_roles(a, seed=0)
    assign_roles(b, seed=0)
    assert [[e.held_out for e in c.events] for c in a.values()] == [[e.held_out for e in c.events] for c in b.values()]
    assert all(any(not e.held_out for e in c.events) for c in a.values())  # every clip has subtitles
    p1, p2 = FeatureProjector(DIM, 0), FeatureProjector(DIM, 0)
    clip = next(iter(a.values()))
    np.testing.assert_array_equal(p1.clip_features(clip, 1.5), p2.clip_features(clip, 1.5))
    assert not np.array_equal(FeatureProjector(DIM, 1).clip_features(clip, 1.5), p1.clip_features(clip, 1.5))


def test_existing_corpus_needs_overwrite(corpus):
    out, _ = corpus
    with pytest.raises(FileExistsError, match="--overwrite"):
        build_demo_corpus(out, feature_dim=DIM, tokenizer=tokenizer(), log=lambda m: None)
