"""scripts/convert_videodb.py: paired npz folders → video db (truncation, concat order, bad inputs)."""

from __future__ import annotations

import numpy as np
import pytest

from data.dbs.video_db import VideoFeatureDb
from scripts.convert_videodb import main
from tests.data.data_helpers import summary_line, write_npz

RN, SF = 6, 4  # small stand-ins for ResNet 2048 / SlowFast 2304


@pytest.fixture
def feature_dir(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "feats"
    for vid, (n_rn, n_sf) in {"v1": (5, 5), "v2": (7, 6), "v3": (3, 4)}.items():  # off-by-one lengths
        write_npz(root / "resnet_features", vid, rng.standard_normal((n_rn, RN)).astype(np.float32))
        write_npz(root / "slowfast_features" / "nested", vid, rng.standard_normal((n_sf, SF)).astype(np.float16))
    return root


def run(capsys, *args):
    assert main(list(args)) == 0
    return summary_line(capsys.readouterr().out)


def fail(*args):
    with pytest.raises(SystemExit) as e:
        main(list(args))
    return str(e.value.code)


def test_truncate_and_concatenate_in_order(feature_dir, tmp_path, capsys):
    line = run(capsys, "--feature-dir", str(feature_dir), "--output", str(tmp_path / "db"), "--fp16")
    assert line.startswith("wrote 3 videos, 14 frames (dim 10 = 6+4), truncated 2 with unequal lengths (max gap 1)")
    assert "skipped 0 bad" in line
    db = VideoFeatureDb(tmp_path / "db")
    assert db.id2nframe == {"v1": 5, "v2": 6, "v3": 3} and db.feature_dim == RN + SF
    assert [(c["name"], c["dim"]) for c in db.meta["components"]] == [("resnet", RN), ("slowfast", SF)]
    rn = np.load(feature_dir / "resnet_features" / "v2.npz")["features"]
    sf = np.load(feature_dir / "slowfast_features" / "nested" / "v2.npz")["features"]
    feats = db["v2"]
    assert feats.dtype == np.float32 and feats.shape == (6, RN + SF)
    np.testing.assert_allclose(feats[:, :RN], rn[:6], atol=5e-3)  # stored as float16
    np.testing.assert_allclose(feats[:, RN:], sf[:6].astype(np.float32), atol=5e-3)


def test_missing_video_in_one_folder(feature_dir, tmp_path, capsys):
    (feature_dir / "slowfast_features" / "nested" / "v2.npz").unlink()
    args = ["--inputs", str(feature_dir / "resnet_features"), str(feature_dir / "slowfast_features"),
            "--output", str(tmp_path / "db")]
    assert fail(*args) == f"error: video v2: no features in {feature_dir / 'slowfast_features'}"
    assert not (tmp_path / "db").exists()
    line = run(capsys, *args, "--skip-bad")
    assert line.startswith("wrote 2 videos") and line.find("skipped 1 bad") > 0


def test_feature_dim_mismatch(feature_dir, tmp_path, capsys):
    bad = write_npz(feature_dir / "resnet_features", "v2", np.zeros((7, RN + 1), np.float32))
    message = fail("--feature-dir", str(feature_dir), "--output", str(tmp_path / "db"))
    assert message.startswith(f"error: {bad}: feature dim mismatch: 7, expected 6")
    line = run(capsys, "--feature-dir", str(feature_dir), "--output", str(tmp_path / "db"), "--skip-bad")
    assert line.startswith("wrote 2 videos") and "skipped 1 bad" in line


def test_expected_dims_are_checked(feature_dir, tmp_path):
    message = fail("--feature-dir", str(feature_dir), "--dims", "2048", "2304", "--output", str(tmp_path / "db"))
    assert message.startswith("error: ") and "feature dim mismatch: 6, expected 2048" in message


def test_npz_without_features_array(feature_dir, tmp_path):
    bad = write_npz(feature_dir / "resnet_features", "v1", np.zeros((5, RN), np.float32), key="feats")
    message = fail("--feature-dir", str(feature_dir), "--output", str(tmp_path / "db"))
    assert message == f"error: {bad}: no array 'features' (has feats)"


def test_truncated_npz_is_one_line_and_skippable(feature_dir, tmp_path, capsys):
    bad = feature_dir / "resnet_features" / "v2.npz"
    bad.write_bytes(bad.read_bytes()[:40])  # a copy cut short
    message = fail("--feature-dir", str(feature_dir), "--output", str(tmp_path / "db"))
    assert message.startswith(f"error: {bad}: cannot read npz") and "\n" not in message
    line = run(capsys, "--feature-dir", str(feature_dir), "--output", str(tmp_path / "db"), "--skip-bad")
    assert "skipped 1 bad" in line and VideoFeatureDb(tmp_path / "db").ids() == ["v1", "v3"]
