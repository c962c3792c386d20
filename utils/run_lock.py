"""A run owns its output folder: an exclusive lock (``output_dir/.run.lock``) held for the whole run.

The lock is an ``flock`` on the file, so the kernel releases it when the process dies however it dies; the
file itself records the holder (pid, host, start time) for the messages. A second run into the same
folder fails with one line naming the holder; a lock file left by a dead run is taken over with a warning.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

LOCK_FILE = ".run.lock"


class RunLockError(RuntimeError):
    """Another live process holds the output folder."""


class RunLock:
    def __init__(self, output_dir: str | os.PathLike) -> None:
        self.path = Path(output_dir) / LOCK_FILE
        self._handle = None
        self.previous_holder: dict | None = None  # a dead run's record that was taken over

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(self.path)
            handle.close()
            raise RunLockError(f"{self.path.parent} is in use by another run ({describe_holder(holder)}); wait for "
                               "it to finish or use another output_dir") from None
        self.previous_holder = _read_holder(self.path)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "started": time.strftime("%Y-%m-%d %H:%M:%S")}))
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def describe_holder(holder: dict | None) -> str:
    if not holder:
        return "holder unknown"
    return f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}"
