"""VideoCorpus: prefix rule, feature-count cut, subtitle rows, special ids, span labels.

Also hosts the shared fixtures of the dataset tests: the demo corpus (built once per session) and a
builder of hand-made subtitle + video dbs with exact frame ownership.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from data.dbs.corpus import (
    BERT_FIRST_WORD_ID,
    TokenIds,
    VideoCorpus,
    frame_span_label,
    parse_span_seconds,
    prefix_subtitle_count,
)
from data.dbs.storage import AtomicDbWriter
from data.dbs.video_db import build_video_db
from data.loading.collate import collate_videos
from tests.data.data_helpers import tokenizer

DEMO_DIM = 32
SPECIAL = {"cls": 101, "sep": 102, "pad": 0, "mask": 103, "unk": 100}


# --------------------------------------------------------------------------------------------------
# shared fixtures / helpers (imported by the other dataset test modules)


def demo_corpus(manifest: dict[str, Any], name: str = "tv", **kwargs: Any) -> VideoCorpus:
    """A :class:`VideoCorpus` over one corpus of the demo."""
    c = manifest["corpora"][name]
    return VideoCorpus(c["subtitle_db"], c["video_db"], **kwargs)


def write_hand_dbs(root: Path, videos: dict[str, dict[str, Any]], dim: int = 4,
                   frame_interval: float = 1.5) -> tuple[Path, Path]:
    """Subtitle + video dbs with exactly the given records, written with the library's writers.

    ``videos[vid]`` = ``{"owner": [...] frame owner per aligned frame, "tokens": [[...], ...],
    "features": number of feature frames (default len(owner))}``. Feature value = frame index.
    """
    sub_path, video_path = root / "subs.db", root / "video"
    with AtomicDbWriter(sub_path, "subtitles") as w:
        for vid, v in videos.items():
            owner = np.asarray(v["owner"], dtype=np.int32)
            w.put(vid, {"vid_name": vid, "sub": [{"text": "", "start": 0.0, "end": 0.0}] * len(v["tokens"]),
                        "input_ids": v["tokens"], "frame_owner": owner,
                        "sub2frames": [np.flatnonzero(owner == i).tolist() for i in range(len(v["tokens"]))],
                        "num_frames": len(owner)})
        w.add_json("id2nframe.json", {vid: len(v["owner"]) for vid, v in videos.items()})
        w.add_json("id2len.json", {vid: sum(map(len, v["tokens"])) for vid, v in videos.items()})
        w.update_meta(kind="subtitles", frame_interval=frame_interval, **tokenizer().meta())
    feats = ((vid, np.repeat(np.arange(v.get("features", len(v["owner"])), dtype=np.float32)[:, None], dim, 1))
             for vid, v in videos.items())
    build_video_db(feats, video_path, frame_interval=frame_interval)
    return sub_path, video_path


def assert_batches_equal(a: Any, b: Any, where: str = "batch") -> None:
    """Recursively compare typed batches (dataclasses of tensors / lists)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), f"{where} differs"
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_batches_equal(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_batches_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def batches_equal(a: Any, b: Any) -> bool:
    """:func:`assert_batches_equal` as a bool."""
    try:
        assert_batches_equal(a, b)
    except AssertionError:
        return False
    return True


# --------------------------------------------------------------------------------------------------
# hand-made records

T = [[2000 + 10 * i + j for j in range(3 + i)] for i in range(6)]  # distinct tokens per subtitle


@pytest.fixture(scope="module")
def hand(tmp_path_factory) -> tuple[Path, Path]:
    videos = {
        # subs 0..4: sub 4 frameless (after the others); sub 2 straddles a cut at 6 frames
        "cut": {"owner": [0, 0, 1, 1, -1, 2, 2, 3, 3, 3], "tokens": T[:5]},
        # subtitle db aligned on 10 frames, but only 7 feature frames exist
        "short": {"owner": [0, 0, 1, 1, -1, 2, 2, 3, 3, 3], "tokens": T[:4], "features": 7},
        "plain": {"owner": [0, 1, -1, 1, 2], "tokens": T[:4]},
    }
    return write_hand_dbs(tmp_path_factory.mktemp("hand"), videos)


@pytest.mark.parametrize("owner, num_subs, clip, expected", [
    ([0, 0, 1, 1, -1, 2, 2, 3, 3, 3], 5, None, 5),
    ([0, 0, 1, 1, -1, 2, 2, 3, 3, 3], 5, 10, 5),
    ([0, 0, 1, 1, -1, 2, 2, 3, 3, 3], 5, 6, 3),   # sub 2 partly cut: kept, then stop (3 and 4 dropped)
    ([0, 0, 1, 1, -1, 2, 2, 3, 3, 3], 5, 5, 2),   # sub 2 entirely cut: dropped and stop
    ([0, 0, 2, 2, 2], 3, 3, 3),                   # frameless sub 1 kept; sub 2 partly cut
    ([0, 0, 2, 2, 2], 3, 2, 2),                   # sub 2 entirely cut; frameless sub 1 before it kept
    ([-1, -1, -1], 2, 1, 2),                      # no frames at all: nothing is ever lost
])
def test_prefix_rule(owner, num_subs, clip, expected):
    assert prefix_subtitle_count(np.array(owner), num_subs, clip) == expected


def test_layout_applies_prefix_rule(hand):
    corpus = VideoCorpus(*hand, max_clip_len=6)
    layout = corpus.layout("cut")
    assert layout.frame_owner.tolist() == [0, 0, 1, 1, -1, 2]
    assert layout.tokens == T[:3]
    assert [f.tolist() for f in layout.owned_frames()] == [[0, 1], [2, 3], [5]]
    assert corpus.num_frames("cut") == 6 and corpus.clip("cut").frame_feats[:, 0].tolist() == [0, 1, 2, 3, 4, 5]
    full = VideoCorpus(*hand, max_clip_len=None).layout("cut")
    assert full.num_subs == 5 and full.frame_owner.tolist() == [0, 0, 1, 1, -1, 2, 2, 3, 3, 3]


def test_fewer_feature_frames_drop_ownership_not_alignment(hand):
    corpus = VideoCorpus(*hand, max_clip_len=100)
    clip = corpus.clip("short")
    assert len(clip.frame_feats) == corpus.num_frames("short") == 7
    assert clip.frame_owner.tolist() == [0, 0, 1, 1, -1, 2, 2]  # frames 7..9 (sub 3) cut, no shift
    assert clip.num_subs == 4 and len(clip.owned_frames()[3]) == 0  # sub 3 stays, frameless
    video = collate_videos([corpus.make_item(clip)], pad_id=0)
    # every owned frame keeps its own features (feature value = frame index)
    assert torch.equal(video.clip_feats[0, video.owned_frame, 0], video.owned_frame.float())


def test_subtitle_rows_context_truncation_and_removal(hand):
    sep = SPECIAL["sep"]
    corpus = VideoCorpus(*hand, max_clip_len=None, max_txt_len=4)
    item = corpus.video_item("plain")
    assert item.subtitle_ids == [[sep, *t] for t in T[:4]]
    assert corpus.video_item("plain", truncate_text=True).subtitle_ids[3] == [sep, *T[3][:4]]
    ctx = VideoCorpus(*hand, max_clip_len=None, sub_ctx_len=1)
    rows = ctx.video_item("plain", removed_subs={1}).subtitle_ids
    assert rows == [[sep, *T[0]], [sep], [sep, *T[2]], [sep, *T[2], *T[3]]]  # previous only, 1 not context
    assert torch.equal(ctx.video_item("plain").frame_owner, torch.tensor([0, 1, -1, 1, 2]))
    with pytest.raises(ValueError, match="out of range"):
        ctx.video_item("plain", removed_subs={7})


def test_token_ids_from_meta():
    ids = TokenIds.from_meta({"special_ids": SPECIAL, "vocab_size": 30522})
    assert (ids.cls, ids.sep, ids.pad, ids.mask) == (101, 102, 0, 103)
    assert ids.word_range == (BERT_FIRST_WORD_ID, 30522)
    assert TokenIds.from_meta({"special_ids": SPECIAL, "vocab_size": 30522, "v_range": [4, 50]}).word_range == (4, 50)
    assert TokenIds.from_meta({"special_ids": SPECIAL, "vocab_size": 500}).word_range == (104, 500)
    with pytest.raises(ValueError, match="special_ids"):
        TokenIds.from_meta({"vocab_size": 10})


@pytest.mark.parametrize("span, n, expected", [
    ((0.0, 9.69), 36, (0, 6)),     # ceil(6.46) - 1
    ((3.0, 3.1), 36, (2, 3)),      # ed forced to st + 1
    ((4.5, 6.0), 36, (3, 4)),      # exact boundaries: ceil(4.0) - 1 = 3 -> st + 1
    ((20.0, 30.0), 10, (9, 9)),    # both clipped to n - 1
    ((0.0, 1.0), 1, (0, 0)),
    (None, 10, (-1, -1)),
])
def test_frame_span_label(span, n, expected):
    assert frame_span_label(span, n, 1.5) == expected


def test_parse_span_seconds():
    assert parse_span_seconds("0-9.69") == (0.0, 9.69)
    assert parse_span_seconds([12, 15.5]) == (12.0, 15.5)
    for bad in (None, "NaN-NaN", "abc", "5", [3.0, 1.0], ["x", 1]):
        assert parse_span_seconds(bad) is None


def test_demo_corpus_clips_are_consistent(demo_manifest):
    corpus = demo_corpus(demo_manifest, max_clip_len=40)
    assert len(corpus) == demo_manifest["corpora"]["tv"]["num_videos"] and corpus.feature_dim == DEMO_DIM
    truncated = 0
    for vid in corpus.ids()[:80]:
        record = corpus.subtitles[vid]
        layout = corpus.layout(vid)
        n = corpus.num_frames(vid)
        assert len(layout.frame_owner) == n == min(40, corpus.videos.num_frames(vid))
        assert layout.tokens == record["input_ids"][: layout.num_subs]  # a prefix
        assert layout.frame_owner.max() < layout.num_subs
        kept = layout.frame_owner >= 0
        assert np.array_equal(layout.frame_owner[kept], np.asarray(record["frame_owner"])[:n][kept])
        truncated += layout.num_subs < len(record["input_ids"])
    assert truncated > 0  # the rule was exercised
    items = [corpus.video_item(v) for v in corpus.ids()[:6]]
    assert collate_videos(items, corpus.token_ids.pad).clip_feats.shape[-1] == DEMO_DIM


def test_corpus_rejects_inconsistent_inputs(hand, tmp_path):
    with pytest.raises(ValueError, match="max_clip_len"):
        VideoCorpus(*hand, max_clip_len=0)
    videos = {"x": {"owner": [0], "tokens": [[2000]]}}
    sub_path, _ = write_hand_dbs(tmp_path / "a", videos, frame_interval=1.5)
    _, other_video = write_hand_dbs(tmp_path / "b", videos, frame_interval=2.0)
    with pytest.raises(ValueError, match="s/frame"):
        VideoCorpus(sub_path, other_video)
