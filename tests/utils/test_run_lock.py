"""utils/run_lock.py: one live run per output folder; a dead run's lock is taken over."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from utils.run_lock import LOCK_FILE, RunLock, RunLockError

ROOT = Path(__file__).resolve().parents[2]


def test_second_holder_is_refused_naming_the_first(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(RunLockError, match=rf"in use by another run \(pid {os.getpid()} on "):
            RunLock(tmp_path).acquire()
    RunLock(tmp_path).acquire().release()  # released: free again


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    # A process takes the lock and dies without releasing it (os._exit skips every cleanup).
    code = (f"import os, sys; sys.path.insert(0, {str(ROOT)!r}); from utils.run_lock import RunLock; "
            f"RunLock({str(tmp_path)!r}).acquire(); os._exit(0)")
    subprocess.run([sys.executable, "-c", code], check=True)
    dead = json.loads((tmp_path / LOCK_FILE).read_text())
    lock = RunLock(tmp_path).acquire()
    assert lock.previous_holder == dead and dead["pid"] != os.getpid()
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    lock.release()
