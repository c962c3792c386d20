"""Entry scripts under bad inputs and faults, as a careless or hostile user meets them: every known failure is
one line naming the file / key / record and a non-zero exit; nothing is silently dropped or overwritten."""
import json
import os
import shutil

import lmdb
import numpy as np
import pytest

from data.dbs.codec import encode_value
from data.dbs.video_db import VideoFeatureDb, build_video_db
from tests.helpers_runs import ROOT, run_script, tiny_pretrain_config, tiny_vcmr_config
from utils.run_lock import RunLock


def one_error_line(result):
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    return lines[0]


@pytest.fixture()
def demo_copy(demo_dir, tmp_path):
    """A private copy of the demo corpus to damage."""
    copy = tmp_path / "demo"
    shutil.copytree(demo_dir, copy)
    return copy


def damage_video(db, key, features):
    env = lmdb.open(str(db), subdir=True, lock=False, map_size=1 << 30)
    with env.begin(write=True) as txn:
        txn.put(key.encode(), encode_value({"features": features}))
    env.close()


def test_nan_features_at_inference_stop_with_the_video_named(demo_copy, tmp_path):
    db = demo_copy / "video_db" / "tv"
    candidates = sorted(json.loads((demo_copy / "txt_db" / "tvr_val.db" / "video2idx.json").read_text()))
    vid = candidates[len(candidates) // 2]  # a val candidate, not among the records checked at open
    damage_video(db, vid, np.full((10, 128), np.nan, np.float32))
    config = tiny_vcmr_config(tmp_path, demo_copy)
    line = one_error_line(run_script(["inf_vcmr.py", "--config", str(config), "--split", "val"]))
    assert vid in line and "non-finite" in line and str(db) in line
    assert not (tmp_path / "run" / "results_val" / "predictions.json").exists()


def test_nan_features_in_training_data_stop_at_start(demo_copy, tmp_path):
    db = demo_copy / "video_db" / "tv"
    vid = sorted(VideoFeatureDb(db).ids())[0]  # first in LMDB (byte) order: checked when the db is opened
    damage_video(db, vid, np.full((10, 128), np.inf, np.float32))
    config = tiny_pretrain_config(tmp_path, demo_copy, num_train_steps=2)
    line = one_error_line(run_script(["pretrain.py", "--config", str(config)]))
    assert vid in line and "non-finite" in line
    assert not (tmp_path / "run" / "ckpt").exists()


def test_videos_without_features_are_reported_and_too_many_stop_the_run(demo_copy, tmp_path):
    db = demo_copy / "video_db" / "tv"
    kept = VideoFeatureDb(db).ids()[:40]
    features = [(vid, VideoFeatureDb(db).get(vid)) for vid in kept]
    shutil.rmtree(db)
    build_video_db(features, db)
    targets = json.loads((ROOT / "config/pretrain-demo.json").read_text())["targets"]
    for target in targets:  # hash split: the demo's split files name the removed videos (an error of its own)
        for split in target["splits"]:
            split.pop("train_idx"), split.pop("val_idx")
    config = tiny_pretrain_config(tmp_path, demo_copy, num_train_steps=1, targets=targets)
    line = one_error_line(run_script(["pretrain.py", "--config", str(config)]))
    assert "target tv videos: 360 of 400 dropped" in line and "no features in" in line
    assert "--max_dropped_share 1" in line
    result = run_script(["pretrain.py", "--config", str(config), "--max_dropped_share", "1"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "data: target tv videos: kept 40 of 400, dropped 360" in result.stdout
    report = json.loads((tmp_path / "run" / "log" / "data_report.json").read_text())
    assert report["target tv videos"]["kept"] == 40 and sum(report["target tv videos"]["dropped"].values()) == 360
    long_clips = sum(len(f) > 100 for _, f in features)  # max_clip_len 100 cuts these, counted
    assert report["target tv videos"]["clips_cut_to_max_clip_len"] == long_clips


def test_targets_with_different_feature_sizes_name_both_dbs(demo_copy, tmp_path):
    db = demo_copy / "video_db" / "how2"
    reader = VideoFeatureDb(db)
    features = [(vid, reader.get(vid)[:, :64]) for vid in reader.ids()]
    shutil.rmtree(db)
    build_video_db(features, db)
    config = tiny_pretrain_config(tmp_path, demo_copy, num_train_steps=1)
    line = one_error_line(run_script(["pretrain.py", "--config", str(config)]))
    assert "different feature sizes" in line and f"{db} has 64" in line
    assert f"{demo_copy / 'video_db' / 'tv'} has 128" in line


def test_a_second_run_into_a_busy_output_dir_is_refused(demo_dir, tmp_path):
    config = tiny_pretrain_config(tmp_path, demo_dir, num_train_steps=1)
    with RunLock(tmp_path / "run"):  # a live run holds the folder
        line = one_error_line(run_script(["pretrain.py", "--config", str(config)]))
    assert f"in use by another run (pid {os.getpid()}" in line
    assert not (tmp_path / "run" / "log" / "hps.json").exists()


def test_a_run_folder_that_cannot_be_resumed_is_not_restarted_silently(demo_dir, tmp_path):
    config = tiny_pretrain_config(tmp_path, demo_dir, num_train_steps=2, valid_steps=1, save_steps=2)
    assert run_script(["pretrain.py", "--config", str(config)]).returncode == 0
    (tmp_path / "run" / "ckpt" / "train_state.pt").unlink()
    line = one_error_line(run_script(["pretrain.py", "--config", str(config)]))
    assert "model_step_2.pt but no training state" in line and "--overwrite" in line
    result = run_script(["pretrain.py", "--config", str(config), "--overwrite"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "run" / "ckpt" / "train_state.pt").is_file()


@pytest.mark.parametrize("overrides, words", [
    (["--learning_rate", "0"], ["learning_rate must be > 0"]),
    (["--warmup_steps", "-3"], ["warmup_steps must be >= 0"]),
    (["--text_init", "package:json"], ["package:json", "ships no model"]),
    (["--output_dir", "OUTFILE"], ["OUTFILE"]),
])
def test_bad_options_and_paths_are_one_line(demo_dir, tmp_path, overrides, words):
    outfile = tmp_path / "a_file"
    outfile.write_text("not a folder")
    overrides = [str(outfile) if o == "OUTFILE" else o for o in overrides]
    words = [str(outfile) if w == "OUTFILE" else w for w in words]
    config = tiny_pretrain_config(tmp_path, demo_dir, num_train_steps=1)
    line = one_error_line(run_script(["pretrain.py", "--config", str(config), *overrides]))
    assert all(w in line for w in words), line
