"""The preprocessing scripts as a user runs them: `python scripts/X.py ...` from the repo root."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.data.data_helpers import REPO

SCRIPTS = ["prepro_sub.py", "prepro_query.py", "convert_videodb.py", "make_demo_corpus.py"]


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, f"scripts/{name}", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("name", SCRIPTS)
def test_help(name):
    proc = run_script(name, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout and "--output" in proc.stdout


def test_error_exit_is_one_line_on_stderr(tmp_path):
    bad = tmp_path / "tvr.jsonl"
    bad.write_text('{"desc": "a", "desc_id": 1}\n{"desc": \n')
    proc = run_script("prepro_query.py", "--format", "tvr", "--annotation", str(bad), "--output", str(tmp_path / "db"))
    assert proc.returncode == 1
    expected = f"error: {bad}: line 2: malformed JSON (Expecting value at column 10)"
    assert proc.stderr.strip().splitlines()[-1] == expected
    assert not (tmp_path / "db").exists()


def test_full_run_prints_progress_and_summary(tmp_path):
    src = tmp_path / "tvr.jsonl"
    src.write_text("".join(json.dumps({"desc": f"query {i}", "desc_id": i}) + "\n" for i in range(5)))
    proc = run_script("prepro_query.py", "--format", "tvr", "--annotation", str(src), "--output", str(tmp_path / "db"))
    assert proc.returncode == 0, proc.stderr
    assert "5/5" in proc.stderr  # the tqdm bar
    assert proc.stdout.strip().startswith("wrote 5 queries over 0 videos (0 labelled), skipped 0 bad")
