"""Damaged dbs are refused with one line naming db, key and field — never a signal, never NaN into a model."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import lmdb
import numpy as np
import pytest

from data.dbs.codec import encode_value
from data.dbs.db_reader import DbError
from data.dbs.subtitle_db import SubtitleDb
from data.dbs.video_db import VideoFeatureDb, build_video_db

ROOT = Path(__file__).resolve().parents[3]
DIM = 64


@pytest.fixture()
def video_db(tmp_path):
    rng = np.random.default_rng(0)
    videos = [(f"v{i:02d}", rng.standard_normal((50, DIM)).astype(np.float32)) for i in range(40)]
    build_video_db(videos, tmp_path / "video.db")
    return tmp_path / "video.db"


def put_raw(db: Path, key: str, value: bytes) -> None:
    """Overwrite one stored record with ``value`` (what a bit rot or a foreign writer would leave)."""
    env = lmdb.open(str(db), subdir=True, lock=False, map_size=1 << 30)
    with env.begin(write=True) as txn:
        txn.put(key.encode(), value)
    env.close()


def test_truncated_lmdb_is_a_clean_error_not_sigbus(video_db):
    data = video_db / "data.mdb"
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from data.dbs.video_db import VideoFeatureDb\n"
            f"db = VideoFeatureDb({str(video_db)!r})\nfor v in db.ids(): db.get(v)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, (result.returncode, result.stderr[-500:])  # an exception, not a signal
    assert f"{data} is truncated" in result.stderr


@pytest.mark.parametrize("value, words", [
    (b"\xc1\xc1\xc1 not msgpack", ["record 'v07'", "damaged and does not decode"]),
    (encode_value({"feature": np.zeros((3, DIM), np.float32)}), ["'v07'", "no field 'features'"]),
    (encode_value({"features": "text"}), ["'v07'", "field 'features' is a str"]),
    (encode_value({"features": np.full((3, DIM), np.nan, np.float32)}), ["'v07'", "non-finite"]),
    (encode_value({"features": np.zeros((3, DIM + 1), np.float32)}), ["'v07'", "feature dim mismatch: 65"]),
])
def test_a_damaged_video_record_is_named(video_db, value, words):
    put_raw(video_db, "v07", value)
    db = VideoFeatureDb(video_db)
    assert db.get("v06").shape == (50, DIM)  # the others still read
    with pytest.raises(DbError) as info:
        db.get("v07")
    assert all(w in str(info.value) for w in words + [str(video_db)]), str(info.value)


def test_damage_in_the_first_records_shows_when_the_db_is_opened_for_a_run(video_db):
    put_raw(video_db, "v00", encode_value({"features": np.full((3, DIM), np.inf, np.float32)}))
    with pytest.raises(DbError, match="'v00'.*non-finite"):
        VideoFeatureDb(video_db).validate()


def test_a_damaged_subtitle_record_is_named(demo_dir, tmp_path):
    db_path = tmp_path / "subs.db"
    shutil.copytree(demo_dir / "txt_db" / "tv_subtitles.db", db_path)
    vid = SubtitleDb(db_path).ids()[5]
    for record, message in ((({"input_ids": [[5, 6]], "frame_owner_": [0]}), rf"{vid!r} has no field 'frame_owner'"),
                            ({"input_ids": [[5, 6]], "frame_owner": np.array([0, 3])},
                             "field 'frame_owner' names subtitle 3 of 1")):
        put_raw(db_path, vid, encode_value(record))
        db = SubtitleDb(db_path)
        with pytest.raises(DbError, match=message):
            db[vid]
        db.close()


def test_a_folder_that_is_not_a_db_and_a_missing_side_file_are_named(video_db, tmp_path):
    with pytest.raises(FileNotFoundError, match="is neither a db of this library nor a released HERO db"):
        VideoFeatureDb(tmp_path)
    (video_db / "id2nframe.json").unlink()
    with pytest.raises(DbError, match="id2nframe.json is missing"):
        VideoFeatureDb(video_db)
