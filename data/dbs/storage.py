"""LMDB + msgpack storage shared by the subtitle, query and video-feature databases: layout and writer.

A database ("db") is a directory holding:

- the LMDB files (``data.mdb``, ``lock.mdb``): key = UTF-8 id, value = msgpack-encoded record, optionally
  lz4-frame compressed;
- ``meta.json``: what the db is, how its values are encoded (``meta["storage"]``) and task facts
  (tokenizer, special ids, frame interval, ...);
- small JSON side files (``id2len.json``, ``id2nframe.json``, ``query2video.json``, ...).

Values are encoded by :mod:`data.codec` (msgpack, numpy arrays as an explicit extension type).

The writer (:class:`AtomicDbWriter`, this module) builds the whole directory under a hidden temporary name
beside the target and ``os.rename``s it into place only when complete, so an interrupted build never leaves
a db that looks whole. The readers are in :mod:`data.db_reader`. A db is write-once: nothing modifies it
after the rename, which is what makes lock-free reading safe.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import lmdb

from data.dbs.codec import NUMPY_EXT_CODE, encode_value, write_json

STORAGE_FORMAT = "hero-lmdb"
STORAGE_VERSION = 1
META_FILE = "meta.json"


# --------------------------------------------------------------------------------------------------
# writer


class AtomicDbWriter:
    """Build a db directory atomically: everything goes to a temporary directory beside ``path``, which
    is renamed to ``path`` only when :meth:`commit` succeeds.

    Use as a context manager; leaving the block normally commits, leaving it with an exception deletes
    the temporary directory and leaves ``path`` untouched::

        with AtomicDbWriter(out, "queries", compress=True) as w:
            for key, rec in records:
                w.put(key, rec)
            w.add_json("id2len.json", id2len)
            w.update_meta(format="tvr")

    Args:
        path: target directory.
        kind: what the db holds (``"subtitles"``, ``"queries"``, ``"video_features"``), recorded in meta.
        compress: lz4-compress every value (recorded as ``meta["storage"]["compression"]``).
        overwrite: replace an existing ``path``; without it an existing path is a ``FileExistsError``.
        commit_every: puts per LMDB write transaction (fewer when they exceed ``commit_bytes``).
        commit_bytes: encoded bytes per write transaction; bounds the memory kept for a map resize.
        map_size: initial LMDB map size in bytes; it doubles automatically when full.
    """

    def __init__(
        self,
        path: str | Path,
        kind: str,
        *,
        compress: bool = False,
        overwrite: bool = False,
        commit_every: int = 1000,
        commit_bytes: int = 64 << 20,
        map_size: int = 1 << 28,
    ) -> None:
        self.path = Path(path)
        self.kind = kind
        self.compress = compress
        self.overwrite = overwrite
        self._check_target()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Hidden name + ".tmp" suffix: an interrupted build (even SIGKILL) never looks like a db.
        self.tmp_path = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent))
        self._map_size = map_size
        self._env: lmdb.Environment | None = lmdb.open(
            str(self.tmp_path), map_size=map_size, subdir=True, readahead=False, meminit=False
        )
        self._txn: lmdb.Transaction | None = self._env.begin(write=True)
        self._pending: list[tuple[bytes, bytes]] = []  # puts since the last commit, replayed after a resize
        self._commit_every = commit_every
        self._commit_bytes = commit_bytes
        self._pending_bytes = 0
        self._side_files: dict[str, Any] = {}
        self._meta: dict[str, Any] = {}
        self.num_records = 0
        self._done = False

    def _check_target(self) -> None:
        if self.path.exists() and not self.overwrite:
            raise FileExistsError(f"{self.path} already exists; pass --overwrite to replace it")

    # -- writing -----------------------------------------------------------------------------------
    def put(self, key: str, record: Any) -> None:
        """Store ``record`` under ``key``; a key written twice is a ``KeyError``."""
        if self._done:
            raise RuntimeError("writer already committed or aborted")
        kb = key.encode("utf-8")
        vb = encode_value(record, self.compress)
        self._put_raw(kb, vb)
        self._pending.append((kb, vb))
        self._pending_bytes += len(vb)
        self.num_records += 1
        if len(self._pending) >= self._commit_every or self._pending_bytes >= self._commit_bytes:
            self._commit_txn()

    def _put_raw(self, kb: bytes, vb: bytes) -> None:
        assert self._txn is not None, "write transaction missing"
        while True:
            try:
                ok = self._txn.put(kb, vb, overwrite=False)
                break
            except lmdb.MapFullError:
                self._grow_and_replay()
        if not ok:
            raise KeyError(f"duplicate key {kb.decode('utf-8')!r} in {self.path.name}")

    def _grow_and_replay(self) -> None:
        """Abort the full transaction, double the map and re-apply the uncommitted puts."""
        assert self._env is not None and self._txn is not None, "writer closed"
        while True:
            self._txn.abort()
            self._map_size *= 2
            self._env.set_mapsize(self._map_size)
            self._txn = self._env.begin(write=True)
            try:
                for kb, vb in self._pending:
                    self._txn.put(kb, vb, overwrite=False)
                return
            except lmdb.MapFullError:
                continue  # still too small: grow again

    def _write_failed(self, error: lmdb.Error) -> OSError:
        """A failed LMDB write as an error a user can act on (LMDB reports a full disk as an I/O error)."""
        free = shutil.disk_usage(self.path.parent).free
        return OSError(f"{self.path}: writing the db failed ({error}); {free / 2**20:.1f} MiB free on its disk "
                       "— is it full? Nothing was left behind")

    def _commit_txn(self) -> None:
        assert self._env is not None and self._txn is not None, "writer closed"
        try:
            self._txn.commit()
        except lmdb.Error as error:
            raise self._write_failed(error) from None
        self._pending.clear()
        self._pending_bytes = 0
        self._txn = self._env.begin(write=True)

    def add_json(self, name: str, obj: Any, pretty: bool = False) -> None:
        """Register a JSON side file written into the db directory at commit."""
        if name == META_FILE:
            raise ValueError("use update_meta() for meta.json")
        self._side_files[name] = ("json", obj, pretty)

    def add_text(self, name: str, text: str) -> None:
        """Register a text side file (e.g. ``query_data.jsonl``) written into the db directory at commit."""
        if name == META_FILE:
            raise ValueError("use update_meta() for meta.json")
        self._side_files[name] = ("text", text, False)

    def update_meta(self, **fields: Any) -> None:
        """Add fields to ``meta.json``."""
        self._meta.update(fields)

    # -- finishing ---------------------------------------------------------------------------------
    def commit(self) -> Path:
        """Flush LMDB, write the side files and ``meta.json``, and rename the directory into place."""
        if self._done:
            raise RuntimeError("writer already committed or aborted")
        assert self._env is not None and self._txn is not None, "writer closed"
        try:
            self._txn.commit()
            self._txn = None
            self._env.sync(True)
        except lmdb.Error as error:
            raise self._write_failed(error) from None
        self._env.close()
        self._env = None
        for name, (how, obj, pretty) in self._side_files.items():
            if how == "json":
                write_json(self.tmp_path / name, obj, pretty=pretty)
            else:
                (self.tmp_path / name).write_text(obj, encoding="utf-8")
        meta = dict(self._meta)
        meta["storage"] = {
            "format": STORAGE_FORMAT,
            "version": STORAGE_VERSION,
            "kind": self.kind,
            "compression": "lz4" if self.compress else "none",
            "num_records": self.num_records,
            "numpy_ext_code": NUMPY_EXT_CODE,
        }
        write_json(self.tmp_path / META_FILE, meta, pretty=True)
        self._rename_into_place()
        self._done = True
        return self.path

    def _rename_into_place(self) -> None:
        trash: Path | None = None
        if self.path.exists():
            self._check_target()  # it may have appeared while we were building
            trash = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".old", dir=self.path.parent))
            os.rename(self.path, trash / "db")
        try:
            os.rename(self.tmp_path, self.path)
        except OSError as e:
            raise FileExistsError(f"could not move the finished db to {self.path}: {e}") from e
        _fsync_dir(self.path.parent)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)

    def abort(self) -> None:
        """Drop everything written so far; the target path is left as it was."""
        if self._done:
            return
        if self._txn is not None:
            self._txn.abort()
            self._txn = None
        if self._env is not None:
            self._env.close()
            self._env = None
        shutil.rmtree(self.tmp_path, ignore_errors=True)
        self._done = True

    def __enter__(self) -> AtomicDbWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._done:
            try:
                self.commit()
            except BaseException:
                self.abort()
                raise


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (best effort: not every filesystem allows fsync on a directory)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def directory_size(path: str | Path) -> int:
    """Total size in bytes of the regular files under ``path``."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
