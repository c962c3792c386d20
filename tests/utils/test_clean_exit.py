"""Multi-process runs end through exit_without_finalization (utils/distributed.py explains the torch/CPython
abort it avoids): everything a normal exit does must still happen, and the exit code must be kept."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "tests/utils/exit_worker.py"


@pytest.mark.parametrize("code", [0, 3])
def test_exit_without_finalization_finishes_the_work_and_keeps_the_code(tmp_path, code):
    result = subprocess.run([sys.executable, str(WORKER), "--out", str(tmp_path), "--code", str(code)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == code, result.stderr
    assert result.stdout == "buffered line without newline"  # flushed before leaving
    assert (tmp_path / "thread.txt").read_text() == "joined"   # non-daemon threads joined
    assert (tmp_path / "atexit.txt").read_text() == "ran"      # atexit handlers ran


def test_single_process_session_returns_instead_of_exiting():
    from utils.distributed import Distributed, leave_session
    assert leave_session(Distributed(), 0) == 0
