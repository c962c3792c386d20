"""scripts/extract_features.py: real video files → a video db the training scripts read.

Randomly initialised full-size ResNet-152 and SlowFast R50 (``--random-weights``) at a small input side
(``--input-size 32``) keep the runs short on a CPU; the video side (decoding, window count, resume, bad
files) is the real one.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from config.schema import ClipOptions
from data.dbs.video_db import VideoFeatureDb
from data.prepro.tokenization import default_tokenizer_path
from scripts.extract_features import main
from scripts.prepro_sub import main as prepro_sub
from tasks.corpus import open_corpus
from tests.data.data_helpers import summary_line, write_jsonl
from tests.features.video_helpers import fps_filter_count, write_corrupt, write_video

FAST = ["--random-weights", "--input-size", "32", "--batch-size", "2"]


def run(capsys, *args) -> str:
    assert main([str(a) for a in args]) == 0
    return summary_line(capsys.readouterr().out)


def fail(*args) -> str:
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    return str(e.value.code)


def usage_error(capsys, *args) -> str:
    """The ``error:`` line argparse prints for refused options."""
    assert fail(*args) == "2"
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.fixture
def videos(tmp_path):
    """Three good videos (fps 30 / 12.5 / 24, landscape and portrait, mp4 and mkv, one without audio) + a bad one."""
    folder = tmp_path / "videos"
    write_video(folder / "a_landscape.mp4", 68, 30, 64, 48)  # 2.27 s → 2 windows
    write_video(folder / "nested" / "b_portrait.mp4", 25, 12.5, 48, 80)  # 2.0 s → 1 window
    write_video(folder / "c_silent.mkv", 80, 24, 96, 64, audio=False)  # 3.33 s → 2 windows
    write_corrupt(folder / "zz_broken.mp4")
    return folder


def test_folder_to_db_resume_and_training_reader(tmp_path, capsys, videos):
    out = tmp_path / "video_db" / "mine"
    partial = out.with_name("mine.partial")

    # 1. without --skip-bad the broken file stops the run (one line naming it); finished videos are kept
    err = fail(videos, "--output", out, *FAST, "--workers", "0")  # workers 0: videos in name order
    assert err.startswith(f"error: {videos / 'zz_broken.mp4'}: cannot read video") and "\n" not in err
    assert "rerun to resume" in err and not out.exists()
    assert sorted(p.name for p in partial.glob("*.npy")) == ["a_landscape.npy", "b_portrait.npy", "c_silent.npy"]

    # 2. the rerun resumes: nothing decoded again, the bad file skipped and counted
    line = run(capsys, videos, "--output", out, *FAST, "--workers", "2", "--skip-bad")
    assert "wrote 3 videos (0 extracted, 3 resumed, 0 kept), 5 frames (dim 4352 = 2048+2304), skipped 1 bad" in line
    assert not partial.exists()
    db = VideoFeatureDb(out)
    paths = {"a_landscape": videos / "a_landscape.mp4", "b_portrait": videos / "nested" / "b_portrait.mp4",
             "c_silent": videos / "c_silent.mkv"}
    assert db.id2nframe == {vid: fps_filter_count(p, 1.5) for vid, p in paths.items()} == {
        "a_landscape": 2, "b_portrait": 1, "c_silent": 2}
    assert db.feature_dim == 4352 and db.frame_interval == 1.5
    assert [(c["name"], c["dim"]) for c in db.meta["components"]] == [("resnet152", 2048), ("slowfast_r50", 2304)]
    feats = {vid: db[vid] for vid in paths}
    assert all(np.isfinite(f).all() and f.shape == (db.id2nframe[v], 4352) for v, f in feats.items())
    assert not np.allclose(feats["a_landscape"][0], feats["a_landscape"][1])  # the windows differ

    # 3. the training scripts' reader takes it (with a subtitle db aligned to its frame counts)
    subs = tmp_path / "subs.jsonl"
    write_jsonl(subs, [{"vid_name": "a_landscape", "sub": [{"text": "a square moves", "start": 0.0, "end": 2.0}]},
                       {"vid_name": "c_silent", "sub": [{"text": "it is quiet", "start": 1.0, "end": 3.2}]}])
    assert prepro_sub(["--subtitles", str(subs), "--frame-counts", str(out), "--output", str(tmp_path / "sub_db"),
                       "--tokenizer", str(default_tokenizer_path())]) == 0
    corpus = open_corpus(str(tmp_path / "sub_db"), str(out), ClipOptions())
    clip = corpus.clip("c_silent")
    assert tuple(clip.frame_feats.shape) == (2, 4352)
    np.testing.assert_array_equal(clip.frame_feats.numpy(), feats["c_silent"])

    # 4. a new video in the folder: only it is extracted, the others are kept as they were
    write_video(videos / "d_new.mp4", 30, 20, 40, 40)
    line = run(capsys, videos, "--output", out, *FAST, "--workers", "2", "--skip-bad")
    assert "wrote 4 videos (1 extracted, 0 resumed, 3 kept), 6 frames" in line and "skipped 1 bad" in line
    db = VideoFeatureDb(out)
    for vid, f in feats.items():
        np.testing.assert_array_equal(db[vid], f)
    assert db.id2nframe["d_new"] == 1

    # 5. nothing new; other settings are refused instead of mixed into the db
    assert run(capsys, videos, "--output", out, *FAST, "--skip-bad").startswith("nothing new: 4 videos already in")
    err = fail(videos, "--output", out, "--random-weights", "--input-size", "48", "--skip-bad")
    assert err.startswith(f"error: {out}: exists with other extraction settings") and "--overwrite" in err


@pytest.fixture
def tiny_clip(tmp_path):
    """A random CLIP (vision + text) checkpoint folder, as a user's local download would be."""
    from transformers import CLIPConfig, CLIPModel

    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "image_size": 48, "patch_size": 16}
    text = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
            "vocab_size": 99, "max_position_embeddings": 16, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}
    folder = tmp_path / "clip-tiny"
    CLIPModel(CLIPConfig(vision_config=vision, text_config=text, projection_dim=24)).save_pretrained(folder)
    return folder


def test_clip_features_fp16(tmp_path, capsys, tiny_clip):
    folder = tmp_path / "videos"
    write_video(folder / "one.mp4", 50, 25, 64, 48)  # 2.0 s → 1 window
    write_video(folder / "two.mp4", 100, 25, 48, 64, audio=False)  # 4.0 s → 3 windows
    out = tmp_path / "clip_db"
    line = run(capsys, folder, "--output", out, "--clip", tiny_clip, "--fp16", "--workers", "0")
    assert "wrote 2 videos (2 extracted, 0 resumed, 0 kept), 4 frames (dim 24 = 24)" in line
    db = VideoFeatureDb(out)
    assert db.meta["stored_dtype"] == "float16" and db.id2nframe == {"one": 1, "two": 3}
    assert db.meta["components"][0]["name"] == "clip" and db.meta["components"][0]["input_size"] == 48
    assert db["two"].dtype == np.float32 and np.isfinite(db["two"]).all()


def test_weights_are_required_and_local(tmp_path, capsys, videos):
    out = tmp_path / "db"
    assert "--random-weights only for tests" in usage_error(capsys, videos, "--output", out)
    err = fail(videos, "--output", out, "--resnet152", tmp_path / "none.pth", "--encoders", "resnet152")
    assert err == f"error: {tmp_path / 'none.pth'}: no such weights file"
    assert "no weights for --slowfast" in usage_error(capsys, videos, "--output", out, "--resnet152",
                                                      tmp_path / "none.pth", "--encoders", "resnet152,slowfast_r50")
    assert "choose one" in usage_error(capsys, videos, "--output", out, "--resnet152", tmp_path / "none.pth",
                                       "--random-weights")
    bad = tmp_path / "not_clip"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert fail(videos, "--output", out, "--clip", bad).startswith(f"error: {bad}: ")
