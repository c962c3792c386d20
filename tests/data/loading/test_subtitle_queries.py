"""Held-out subtitles (train_vsm.py): the seeded choice, hiding them from every input, and the queries."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data.dbs.corpus import VideoCorpus
from data.loading.pretrain_datasets import MlmDataset, VsmDataset
from data.loading.subtitle_queries import (
    DESC_ID_STRIDE,
    HeldoutSubtitleQueries,
    eligible_subtitles,
    heldout_mask,
    select_heldout_subtitles,
)
from tests.data.dbs.test_corpus import (  # noqa: F401
    SPECIAL,
    T,
    demo_corpus,
    write_hand_dbs,
)

SEP = SPECIAL["sep"]


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    videos = {"a": {"owner": [0, 0, 1, 1, 2, 2, 3, 3, 4, 4], "tokens": T[:5]},
              "b": {"owner": [0, 0, 1, 1, -1, -1], "tokens": T[:3]}}  # b: sub 2 owns no frame
    return write_hand_dbs(tmp_path_factory.mktemp("heldout"), videos)


@pytest.fixture(scope="module")
def tv(demo_manifest):
    return demo_corpus(demo_manifest)


def test_heldout_mask_keeps_one_visible_subtitle():
    eligible = np.array([True, True, False, True])
    assert heldout_mask(eligible, np.array([0.1, 0.5, 0.05, 0.9]), 0.3).tolist() == [True, False, False, False]
    # every eligible one under the ratio: the one with the largest unit stays visible
    assert heldout_mask(eligible, np.array([0.1, 0.2, 0.0, 0.15]), 0.5).tolist() == [True, False, False, True]
    assert not heldout_mask(np.zeros(3, bool), np.zeros(3), 0.5).any()


def test_eligible_subtitles_need_text_and_a_frame(hand):
    corpus = VideoCorpus(*hand, max_clip_len=None)
    assert eligible_subtitles(corpus.layout("a")).all()
    assert eligible_subtitles(corpus.layout("b")).tolist() == [True, True, False]


def test_hidden_subtitles_leave_every_input(hand):
    base = VideoCorpus(*hand, max_clip_len=None, sub_ctx_len=1)
    corpus = base.with_hidden_subtitles({"a": [1, 3]})
    rows = corpus.video_item("a").subtitle_ids
    # hidden rows keep only [SEP] and are nobody's context (row 2 would start with T[1], row 4 with T[3])
    assert rows == [[SEP, *T[0]], [SEP], [SEP, *T[2]], [SEP], [SEP, *T[4]]]
    assert torch.equal(corpus.video_item("a").frame_owner, base.video_item("a").frame_owner)
    assert base.video_item("a").subtitle_ids[1] == [SEP, *T[0], *T[1]]  # the view does not touch the base
    assert corpus.layout("a").hidden == {1, 3} and corpus.layout("b").hidden == frozenset()
    stats = corpus.subtitle_stats()
    assert stats["subs_with_frames"].tolist() == [3, 2] and stats["subs_with_tokens"].tolist() == [3, 3]
    vsm = VsmDataset(corpus, ["a"], query_per_video=3, truncate_text=False)
    for draw in range(40):
        item, queries, _ = vsm[(0, draw)]
        assert sorted(tuple(q[1:]) for q in queries) == sorted(tuple(t) for t in (T[0], T[2], T[4]))
        assert item.subtitle_ids[1] == [SEP] and item.subtitle_ids[3] == [SEP]
    mlm_rows = [ex.labels for ex in MlmDataset(corpus, ["a"])[0]]
    assert len(mlm_rows) == 3  # only the visible subtitles are MLM rows
    with pytest.raises(ValueError, match="not in the corpus"):
        base.with_hidden_subtitles({"zzz": [0]})


def test_selection_is_deterministic_and_only_takes_candidates(tv):
    first = select_heldout_subtitles(tv, 0.3, seed=5)
    assert first == select_heldout_subtitles(tv, 0.3, seed=5)
    assert first != select_heldout_subtitles(tv, 0.3, seed=6)
    assert select_heldout_subtitles(tv, 0.0, seed=5) == {}
    with pytest.raises(ValueError, match="heldout_subtitle_ratio"):
        select_heldout_subtitles(tv, 1.0, seed=5)
    held_total = eligible_total = 0
    for vid in tv.ids():
        eligible = eligible_subtitles(tv.layout(vid))
        held = np.zeros_like(eligible)
        held[list(first.get(vid, ()))] = True
        assert not (held & ~eligible).any(), vid
        assert (eligible & ~held).any() or not eligible.any(), f"{vid}: no visible training subtitle left"
        held_total, eligible_total = held_total + held.sum(), eligible_total + eligible.sum()
    assert 0.2 < held_total / eligible_total < 0.35


def test_heldout_queries_and_training_queries_are_disjoint(tv):
    heldout = select_heldout_subtitles(tv, 0.3, seed=0)
    corpus = tv.with_hidden_subtitles(heldout)
    vsm = VsmDataset(corpus, query_per_video=3, truncate_text=False)
    checked = 0
    for index, vid in enumerate(vsm.video_ids[:60]):
        if vid not in heldout:
            continue
        clip = corpus.clip(vid)
        hidden_text = {tuple(clip.tokens[i][: corpus.max_txt_len]) for i in heldout[vid]}
        visible_text = {tuple(t[: corpus.max_txt_len]) for i, t in enumerate(clip.tokens) if i not in heldout[vid]}
        item, queries, _ = vsm[(index, 7)]
        assert all(item.subtitle_ids[i] == [SEP] for i in heldout[vid])
        assert all(tuple(q[1:]) in visible_text or tuple(q[1:]) not in hidden_text for q in queries)
        checked += 1
    assert checked > 10


def test_heldout_query_dataset(tv):
    heldout = select_heldout_subtitles(tv, 0.2, seed=0)
    corpus = tv.with_hidden_subtitles(heldout)
    queries = HeldoutSubtitleQueries(corpus, heldout)
    assert len(queries) == sum(map(len, heldout.values())) and queries.db is None and queries.has_labels
    names = sorted(tv.ids())
    assert queries.video2idx == {v: i for i, v in enumerate(names)}
    desc_ids = queries.desc_ids.tolist()
    assert desc_ids == sorted(set(desc_ids))
    assert queries.heldout() == heldout
    for index in (0, len(queries) // 2, len(queries) - 1):
        record = queries.record(index)
        vid, sub = names[record["desc_id"] // DESC_ID_STRIDE], record["desc_id"] % DESC_ID_STRIDE
        stored = tv.subtitles[vid]
        assert record["vid_name"] == vid and sub in heldout[vid]
        assert record["ts"] == [stored["sub"][sub]["start"], stored["sub"][sub]["end"]]
        assert record["desc"] == stored["sub"][sub]["text"]
        assert queries[index]["ids"] == [SPECIAL["cls"], *stored["input_ids"][sub][: tv.max_txt_len]]
    batch = queries.collate([queries[i] for i in range(5)])
    assert batch.query_ids == [str(d) for d in desc_ids[:5]] and batch.queries.ids.shape[0] == 5
    subset = HeldoutSubtitleQueries(corpus, heldout, max_queries=10, seed=3)
    assert len(subset) == 10 and set(subset.desc_ids.tolist()) < set(desc_ids)
    assert subset.desc_ids.tolist() == HeldoutSubtitleQueries(corpus, heldout, max_queries=10, seed=3).desc_ids.tolist()
    vid = names[0]
    with pytest.raises(ValueError, match="kept subtitles"):
        HeldoutSubtitleQueries(corpus, {vid: [tv.layout(vid).num_subs]})
