"""Read side of the HERO dbs (layout: :mod:`data.dbs.storage`): lazy, fork-safe, picklable LMDB readers.

Readers open LMDB read-only (``readonly=True, lock=False, readahead=False``) lazily in the process that
reads and re-open after a ``fork`` (LMDB handles must not cross a fork), so they are safe to hand to
``DataLoader(num_workers>0)`` and to several training processes at once; they pickle without the handle.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lmdb

from data.dbs.codec import decode_value, read_json
from data.dbs.released_layout import ReleasedDb, ReleasedFormatError, is_released_text_db, open_released_text_db
from data.dbs.storage import META_FILE, STORAGE_FORMAT

# One environment per db and process, shared by every reader of that db: py-lmdb (like LMDB) refuses to
# open the same files twice in one process, and train + val datasets routinely read the same video db.
# Key = (real path, device, inode of data.mdb), so a db rebuilt in place is a new key.
_ENVS: dict[tuple[str, int, int], tuple[int, lmdb.Environment]] = {}
_ENVS_LOCK = threading.Lock()


class DbError(ValueError):
    """A db on disk cannot be read as it should; the message names the db, the key and the field."""


def _reset_lock_after_fork() -> None:
    global _ENVS_LOCK
    _ENVS_LOCK = threading.Lock()  # a lock held by another thread at fork time would never be released


os.register_at_fork(after_in_child=_reset_lock_after_fork)


class LmdbReader:
    """Read-only, lazily opened, fork-safe access to the LMDB files of one db directory.

    The environment is opened on first use in each process (``os.getpid()`` is checked on every access)
    with ``readonly=True, lock=False, readahead=False``: no lock file is written, so any number of
    processes may read, and the OS page cache is not flooded by read-ahead of random records. All
    readers of the same db in a process share one environment. An environment inherited through
    ``fork`` is never used: the child closes its copy (with ``lock=False`` this only unmaps the child's
    memory; the parent's handle is unaffected) and opens its own.

    Args:
        path: db directory.
        compressed: values are lz4-compressed.
        max_readers: LMDB reader slots (only matters if a caller opens with locking elsewhere).
        decoder: bytes → record for a foreign value layout (a module-level function, so readers pickle).
    """

    def __init__(self, path: str | Path, compressed: bool = False, max_readers: int = 2048,
                 decoder: Callable[[bytes], Any] | None = None) -> None:
        self.path = str(path)
        self.compressed = compressed
        self.decoder = decoder  # released HERO layouts (data.dbs.released_layout); None = this library's codec
        self.max_readers = max_readers
        self._key: tuple[str, int, int] | None = None

    def _env_key(self) -> tuple[str, int, int]:
        if self._key is None:
            try:
                st = os.stat(os.path.join(self.path, "data.mdb"))
            except FileNotFoundError:
                raise FileNotFoundError(f"{self.path} holds no LMDB data (data.mdb); build it with scripts/") from None
            self._key = (os.path.realpath(self.path), st.st_dev, st.st_ino)
        return self._key

    def _environment(self) -> lmdb.Environment:
        key, pid = self._env_key(), os.getpid()
        entry = _ENVS.get(key)
        if entry is not None and entry[0] == pid:
            return entry[1]
        with _ENVS_LOCK:
            entry = _ENVS.get(key)
            if entry is not None and entry[0] == pid:
                return entry[1]
            if entry is not None:
                entry[1].close()  # inherited through fork: LMDB forbids using it here
            try:
                env = lmdb.open(self.path, readonly=True, lock=False, readahead=False, create=False, subdir=True,
                                max_readers=self.max_readers)
            except lmdb.Error as error:
                raise DbError(f"{self.path}: not a readable LMDB database ({error}); rebuild or re-copy it") from None
            _check_not_truncated(self.path, env)
            _ENVS[key] = (pid, env)
            return env

    @property
    def opened_in(self) -> int | None:
        """Pid of the process that opened the environment this process would use (None if not open)."""
        if self._key is None or self._key not in _ENVS:
            return None
        return _ENVS[self._key][0]

    @property
    def is_open(self) -> bool:
        """Whether this process holds an open environment for this db."""
        return self.opened_in == os.getpid()

    def get_bytes(self, key: str) -> bytes | None:
        """Raw stored value (still compressed if the db is), or None."""
        with self._environment().begin(buffers=False) as txn:
            return txn.get(key.encode("utf-8"))

    def get(self, key: str) -> Any:
        """Decoded record; ``KeyError`` when absent, :class:`DbError` when the stored bytes do not decode."""
        data = self.get_bytes(key)
        if data is None:
            raise KeyError(f"{key!r} not in {self.path}")
        try:
            return decode_value(data, self.compressed) if self.decoder is None else self.decoder(data)
        except Exception as error:  # msgpack / lz4 / numpy raise many types for damaged bytes
            raise DbError(f"{self.path}: record {key!r} is damaged and does not decode "
                          f"({type(error).__name__}: {error}); rebuild or re-copy the db") from None

    def first_keys(self, count: int) -> list[str]:
        """The first ``count`` keys in LMDB order (no scan of the whole db)."""
        keys = []
        with self._environment().begin() as txn:
            for key in txn.cursor().iternext(keys=True, values=False):
                if len(keys) == count:
                    break
                keys.append(key.decode("utf-8"))
        return keys

    def keys(self) -> list[str]:
        """All keys, in LMDB (byte-sorted) order."""
        with self._environment().begin() as txn:
            return [k.decode("utf-8") for k in txn.cursor().iternext(keys=True, values=False)]

    def close(self) -> None:
        """Close this process's environment of this db (shared by its readers; any access re-opens)."""
        if self._key is None:
            return
        with _ENVS_LOCK:
            entry = _ENVS.get(self._key)
            if entry is not None and entry[0] == os.getpid():
                del _ENVS[self._key]
                entry[1].close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_key"] = None  # the receiving process resolves (and opens) the files itself
        return state


def _check_not_truncated(path: str, env: lmdb.Environment) -> None:
    """A ``data.mdb`` shorter than its own last page is memory-mapped past its end: reading such a page
    kills the process with SIGBUS, so refuse it at open."""
    data = os.path.join(path, "data.mdb")
    need = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
    size = os.path.getsize(data)
    if size < need:
        env.close()
        raise DbError(f"{data} is truncated: {size} bytes, but its pages need {need}; the copy or the build was "
                      "cut short — re-copy or rebuild the db")


class LmdbDatabase:
    """Base class of the db readers: ``meta.json`` + side files + a lazily opened :class:`LmdbReader`.

    A db HERO released (``meta.json`` without a ``storage`` section) is read as it is, through
    :mod:`data.dbs.released_layout`; :attr:`released` says which layout was found.

    Args:
        path: db directory written by :class:`AtomicDbWriter`, or a released HERO db.
        kind: expected ``meta["storage"]["kind"]``; a mismatch is a ``ValueError`` naming both.
    """

    kind: str = ""
    layout_hint: str = ""  # how the released layout of this kind looks, for the "neither layout" error

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.released: ReleasedDb | None = self._released_layout()
        if self.released is not None:
            self.path, self.meta = self.released.folder, self.released.meta
            self._reader = LmdbReader(self.released.lmdb_dir, decoder=self.released.decoder)
            return
        meta_path = self.path / META_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(f"{self.path} is neither a db of this library nor a released HERO db "
                                    f"(no {META_FILE}{self.layout_hint}); build it with scripts/")
        self.meta: dict[str, Any] = read_json(meta_path)
        storage = self.meta.get("storage", {})
        if storage.get("format") != STORAGE_FORMAT:
            raise ValueError(f"{self.path}: unknown storage format {storage.get('format')!r}")
        if self.kind and storage.get("kind") != self.kind:
            raise ValueError(
                f"{self.path} holds {storage.get('kind')!r} records, not {self.kind!r}; check the path in your config"
            )
        self._reader = LmdbReader(self.path, compressed=storage.get("compression") == "lz4")

    def _released_layout(self) -> ReleasedDb | None:
        """The released HERO layout at :attr:`path`, or None for a db of this library (video dbs override)."""
        if not is_released_text_db(self.path):
            return None
        try:
            return open_released_text_db(self.path, self.kind)
        except ReleasedFormatError as error:
            raise DbError(str(error)) from None

    def validate(self, sample: int = 3) -> None:
        """Open the LMDB files (a truncated file is refused) and check that the first ``sample`` records
        decode into what this db kind stores: damage shows at start, not in the middle of a run."""
        for key in self._reader.first_keys(sample):
            self._checked(key, self._reader.get(key))

    def _checked(self, key: str, record: Any) -> Any:
        """``record`` if it has this db kind's fields (subclasses check them), else :class:`DbError`."""
        return record

    def side_json(self, name: str, default: Any = None) -> Any:
        """Load a JSON side file of this db (``default`` when it does not exist)."""
        p = self.path / name
        return read_json(p) if p.is_file() else default

    @property
    def compressed(self) -> bool:
        """Whether values are lz4-compressed."""
        return self._reader.compressed

    @property
    def special_ids(self) -> dict[str, int]:
        """Tokenizer special ids recorded at build time (empty for video dbs)."""
        return dict(self.meta.get("special_ids", {}))

    def _get(self, key: str) -> Any:
        return self._checked(key, self._reader.get(key))

    def _field(self, key: str, record: Any, name: str, types: type | tuple[type, ...]) -> Any:
        """One field of a record, of the expected type(s), or a :class:`DbError` naming db, key and field."""
        if not isinstance(record, dict) or name not in record:
            raise DbError(f"{self.path}: record {key!r} has no field {name!r} (damaged, or not a {self.kind} db)")
        value = record[name]
        if not isinstance(value, types):
            expected = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
            raise DbError(f"{self.path}: record {key!r} field {name!r} is a {type(value).__name__}, "
                          f"expected {expected}")
        return value

    def close(self) -> None:
        """Close this process's LMDB handle."""
        self._reader.close()

    def __repr__(self) -> str:
        count = self.meta["storage"]["num_records"]
        return f"{type(self).__name__}({str(self.path)!r}, {count if count is not None else '?'} records)"


class PerVideoDatabase(LmdbDatabase):
    """A db keyed by video name with an ``id2nframe.json`` side file (subtitle and feature dbs)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        # a released subtitle db records frames per video in vid2len.json
        name = "vid2len.json" if self.released is not None and self.kind == "subtitles" else "id2nframe.json"
        if not (self.path / name).is_file():
            raise DbError(f"{self.path}: side file {name} is missing (frames per video); rebuild the db")
        self._id2nframe: dict[str, int] = self.side_json(name, {})
        if not isinstance(self._id2nframe, dict) or not all(
                isinstance(n, int) and not isinstance(n, bool) for n in self._id2nframe.values()):
            raise DbError(f"{self.path}/{name}: expected {{video name: frame count}}")
        if self.released is not None:
            self.meta["storage"]["num_records"] = len(self._id2nframe)

    def __contains__(self, vid_name: object) -> bool:
        return vid_name in self._id2nframe

    def __len__(self) -> int:
        return len(self._id2nframe)

    def ids(self) -> list[str]:
        """Video names, in build order."""
        return list(self._id2nframe)

    def num_frames(self, vid_name: str) -> int:
        """Frames of a video (from ``id2nframe.json``; no LMDB read)."""
        return self._id2nframe[vid_name]
