"""Video feature db: float16 storage returned as float32, compression, reader API, bad features."""

from __future__ import annotations

import numpy as np
import pytest

from data.dbs.video_db import VideoFeatureDb, build_video_db
from data.prepro.annotations import BadInputError, BadInputPolicy


def _videos(dim=6):
    rng = np.random.default_rng(0)
    return {"a": rng.standard_normal((5, dim)).astype(np.float32),
            "b": rng.standard_normal((2, dim)).astype(np.float32)}


@pytest.mark.parametrize("fp16, compress", [(False, False), (True, False), (True, True)])
def test_round_trip(tmp_path, fp16, compress):
    videos = _videos()
    counts = build_video_db(videos.items(), tmp_path / "db", fp16=fp16, compress=compress, frame_interval=2.0,
                            components=[{"name": "x", "dim": 4}, {"name": "y", "dim": 2}])
    assert counts == {"videos": 2, "frames": 7, "feature_dim": 6}
    db = VideoFeatureDb(tmp_path / "db")
    assert db.meta["stored_dtype"] == ("float16" if fp16 else "float32") and db.compressed == compress
    stored = db._get("a")["features"]
    assert stored.dtype == (np.float16 if fp16 else np.float32)  # really stored at that precision
    feats = db["a"]
    assert feats.dtype == np.float32 and feats.shape == (5, 6)
    np.testing.assert_allclose(feats, videos["a"], atol=2e-3 if fp16 else 0)
    assert db.get("a", max_frames=3).shape == (3, 6) and db.get("b", max_frames=10).shape == (2, 6)
    assert db.ids() == ["a", "b"] and len(db) == 2 and db.num_frames("a") == 5 and db.id2nframe == {"a": 5, "b": 2}
    assert db.feature_dim == 6 and db.frame_interval == 2.0
    assert [c["name"] for c in db.meta["components"]] == ["x", "y"]


@pytest.mark.parametrize(
    "bad, message",
    [(np.zeros((3, 5), np.float32), "feature dim mismatch: 5, expected 6"),
     (np.zeros((0, 6), np.float32), "no frames"),
     (np.zeros(6, np.float32), "features must be 2-D"),
     (np.full((2, 6), np.nan, np.float32), "non-finite")],
)
def test_bad_features(tmp_path, bad, message):
    items = list(_videos().items()) + [("bad", bad)]
    with pytest.raises(BadInputError, match=f"video bad: {message}"):
        build_video_db(items, tmp_path / "db")
    assert not (tmp_path / "db").exists()
    policy = BadInputPolicy(skip=True, log=lambda m: None)
    assert build_video_db(items, tmp_path / "db", on_bad=policy)["videos"] == 2 and policy.count == 1
