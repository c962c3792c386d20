"""LMDB + msgpack storage: explicit numpy codec, atomic writer, lazy fork-safe readers."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import msgpack
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from data.dbs.codec import NUMPY_EXT_CODE, decode_value, encode_value
from data.dbs.db_reader import LmdbDatabase, LmdbReader
from data.dbs.storage import AtomicDbWriter
from tests.data.data_helpers import REPO


def _record():
    return {
        "f32": np.arange(12, dtype=np.float32).reshape(3, 4),
        "f16": np.array([[0.5, -1.25]], dtype=np.float16),
        "i32": np.array([-1, 0, 7], dtype=np.int32),
        "big_endian": np.array([1.5, 2.5], dtype=">f4"),
        "bool": np.array([True, False]),
        "empty": np.zeros((0, 5), dtype=np.float32),
        "cube": np.ones((2, 2, 2), dtype=np.uint8),
        "scalar": np.float32(2.5),
        "nested": [{"text": "héllo", "ids": [1, 2, 3]}, None, b"raw"],
    }


def _assert_record_equal(got, want):
    for key in ("f32", "f16", "i32", "big_endian", "bool", "empty", "cube"):
        assert isinstance(got[key], np.ndarray), key
        assert got[key].dtype == want[key].dtype and got[key].shape == want[key].shape, key
        np.testing.assert_array_equal(got[key], want[key])
        assert got[key].flags.writeable, key
    assert got["scalar"] == 2.5 and got["nested"] == [{"text": "héllo", "ids": [1, 2, 3]}, None, b"raw"]


@pytest.mark.parametrize("compress", [False, True])
def test_codec_round_trip(compress):
    _assert_record_equal(decode_value(encode_value(_record(), compress), compress), _record())


def test_numpy_arrays_are_an_explicit_ext_type():
    raw = msgpack.unpackb(encode_value({"a": np.arange(3, dtype=np.int64)}), raw=False)
    assert isinstance(raw["a"], msgpack.ExtType) and raw["a"].code == NUMPY_EXT_CODE
    dtype, shape, buf = msgpack.unpackb(raw["a"].data, raw=False)
    assert (dtype, shape) == ("<i8", [3]) and len(buf) == 24


def test_object_arrays_are_refused():
    with pytest.raises(TypeError, match="Python objects"):
        encode_value(np.array([{"a": 1}], dtype=object))


def test_write_read_round_trip_and_side_files(tmp_path):
    target = tmp_path / "db"
    with AtomicDbWriter(target, "things") as w:
        w.put("a", _record())
        w.put("b", {"x": 1})
        w.add_json("id2len.json", {"a": 3, "b": 1})
        w.update_meta(answer=42)
    db = LmdbDatabase(target)
    assert db.meta["answer"] == 42
    assert db.meta["storage"] == {"format": "hero-lmdb", "version": 1, "kind": "things", "compression": "none",
                                  "num_records": 2, "numpy_ext_code": NUMPY_EXT_CODE}
    assert db.side_json("id2len.json") == {"a": 3, "b": 1}
    _assert_record_equal(db._get("a"), _record())
    assert db._reader.keys() == ["a", "b"]
    with pytest.raises(KeyError):
        db._get("missing")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db"]  # no temp dir left


def test_compressed_db_round_trip(tmp_path):
    rec = {"features": np.zeros((200, 64), np.float32), "text": "again " * 100}
    for compress in (False, True):
        with AtomicDbWriter(tmp_path / f"db{compress}", "things", compress=compress) as w:
            w.put("v", rec)
    db = LmdbDatabase(tmp_path / "dbTrue")
    assert db.meta["storage"]["compression"] == "lz4" and db.compressed
    stored = db._reader.get_bytes("v")
    assert stored[:4] == b"\x04\x22\x4d\x18"  # lz4 frame magic: really compressed on disk
    plain = LmdbDatabase(tmp_path / "dbFalse")._reader.get_bytes("v")
    assert len(stored) < len(plain) / 10
    got = db._get("v")
    np.testing.assert_array_equal(got["features"], rec["features"])
    assert got["text"] == rec["text"]


def test_exception_mid_build_leaves_no_db(tmp_path):
    target = tmp_path / "db"
    with pytest.raises(RuntimeError, match="boom"):
        with AtomicDbWriter(target, "things", commit_every=100) as w:
            for i in range(250):  # past two internal commits
                w.put(str(i), {"i": i})
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_killed_build_never_looks_like_a_db(tmp_path):
    """A process killed mid-build (no Python cleanup at all) leaves only a hidden *.tmp folder."""
    code = (
        "import os, sys; sys.path.insert(0, sys.argv[2]);"
        "from data.dbs.storage import AtomicDbWriter;"
        "w = AtomicDbWriter(sys.argv[1], 'things', commit_every=10);"
        "[w.put(str(i), {'i': i}) for i in range(50)];"
        "os._exit(3)"
    )
    target = tmp_path / "db"
    proc = subprocess.run([sys.executable, "-c", code, str(target), str(REPO)], capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    assert not target.exists()
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(".db.") and leftovers[0].endswith(".tmp")


def test_refuses_to_overwrite_unless_asked(tmp_path):
    target = tmp_path / "db"
    with AtomicDbWriter(target, "things") as w:
        w.put("old", 1)
    with pytest.raises(FileExistsError, match="--overwrite"):
        AtomicDbWriter(target, "things")
    with AtomicDbWriter(target, "things", overwrite=True) as w:
        w.put("new", 2)
    db = LmdbDatabase(target)
    assert db._reader.keys() == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["db"]


def test_duplicate_key_is_an_error(tmp_path):
    with pytest.raises(KeyError, match="duplicate key 'k'"):
        with AtomicDbWriter(tmp_path / "db", "things") as w:
            w.put("k", 1)
            w.put("k", 2)
    assert not (tmp_path / "db").exists()


def test_map_grows_when_full(tmp_path):
    blob = np.random.default_rng(0).random(2000)  # 16 kB, incompressible
    with AtomicDbWriter(tmp_path / "db", "things", map_size=64 * 1024, commit_every=7) as w:
        for i in range(60):
            w.put(f"{i:03d}", {"blob": blob + i})
    db = LmdbDatabase(tmp_path / "db")
    assert len(db._reader.keys()) == 60
    np.testing.assert_array_equal(db._get("059")["blob"], blob + 59)


def test_reader_opens_lazily_and_pickles_without_handle(tmp_path):
    with AtomicDbWriter(tmp_path / "db", "things") as w:
        w.put("k", {"v": 1})
    reader = LmdbReader(tmp_path / "db")
    assert not reader.is_open
    assert reader.get("k") == {"v": 1}
    assert reader.is_open
    clone = pickle.loads(pickle.dumps(reader))
    assert clone.get("k") == {"v": 1}  # a second reader of the same db in one process shares the handle
    reader.close()
    assert not reader.is_open and not clone.is_open and clone.get("k") == {"v": 1} and reader.is_open
    with pytest.raises(FileNotFoundError, match="holds no LMDB data"):
        LmdbReader(tmp_path / "missing").get("k")  # a reader never creates a db
    assert not (tmp_path / "missing").exists()


class _PidDataset(Dataset):
    def __init__(self, reader: LmdbReader, n: int) -> None:
        self.reader, self.n = reader, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        value = self.reader.get(str(i))
        return value["x"], os.getpid(), self.reader.opened_in


def test_dataloader_workers_reopen_after_fork(tmp_path):
    with AtomicDbWriter(tmp_path / "db", "things") as w:
        for i in range(40):
            w.put(str(i), {"x": np.full(3, i, np.int64)})
    reader = LmdbReader(tmp_path / "db")
    reader.get("0")  # the parent holds an open handle before the fork: the hazardous case
    parent_pid = os.getpid()
    loader = DataLoader(_PidDataset(reader, 40), batch_size=4, num_workers=2,
                        multiprocessing_context="fork", collate_fn=lambda batch: batch)
    seen, pids = [], set()
    for batch in loader:
        for x, pid, reader_pid in batch:
            seen.append(int(x[0]))
            assert pid != parent_pid and reader_pid == pid  # each worker opened its own environment
            pids.add(pid)
    assert sorted(seen) == list(range(40)) and len(pids) == 2
    assert reader.opened_in == parent_pid and reader.is_open  # the parent's handle is untouched
    assert torch.from_numpy(reader.get("5")["x"]).sum() == 15
