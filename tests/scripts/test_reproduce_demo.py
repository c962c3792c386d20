"""scripts/reproduce_demo.py --quick: the table's shape, every cell read from a metrics file the run wrote, resume."""
import json
import subprocess
import sys
import time
from pathlib import Path

from evaluation.paper_table import COLUMNS, cells_from_metrics
from tasks.demo_table import ROWS
from tests.helpers_runs import ROOT


def _run(demo_dir: Path, out: Path, finetune_steps: int = 2, jobs: int = 1) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/reproduce_demo.py", "--quick", "--corpus", str(demo_dir), "--output", str(out),
         "--model-config", "config/hero_tiny_model.json", "--text-init", "none",
         "--pretrain-steps", "2", "--finetune-steps", str(finetune_steps), "--jobs", str(jobs)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_quick_table_comes_from_metrics_files_of_the_run(demo_dir, tmp_path):
    out = tmp_path / "table"
    started = time.time()
    result = _run(demo_dir, out, jobs=2)  # (row, seed)s in two worker processes; the resume below in one
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    table = json.loads((out / "table.json").read_text())
    assert [row["name"] for row in table["rows"]] == [r.name for r in ROWS] + ["chance"]
    assert [c["key"] for c in table["columns"]] == [c.key for c in COLUMNS]
    datasets = {c.key: c.source.split(":")[0] for c in COLUMNS}
    for row in table["rows"]:
        assert set(row["cells"]) == set(datasets), row["name"]
        for key, cell in row["cells"].items():
            assert cell["std"] is None  # one seed
            (source,) = cell["sources"]
            path = Path(source)
            assert path.is_relative_to(out.resolve()) and path.name == "metrics.json"
            assert path.stat().st_mtime >= started  # written by this run
            assert cells_from_metrics(datasets[key], path)[key].mean == cell["mean"]
            if row["name"] != "chance":  # an evaluation of this row's fine-tuned weights
                checkpoint = json.loads((path.parent / "source.json").read_text())["checkpoint"]
                assert Path(checkpoint).is_relative_to(out.resolve()) and checkpoint.endswith("model_step_2.pt")
    markdown = (out / "table.md").read_text().splitlines()
    assert len(markdown) == 2 + len(ROWS) + 1 and all(line.count("|") == len(COLUMNS) + 2 for line in markdown)
    noise = (out / "qa_noise_frames.md").read_text()
    assert all(r.name in noise for r in ROWS)
    assert not list(out.rglob("train_state.pt"))  # training states are removed once a row is finished
    assert (out / "mfm" / "seed0" / "pretrain" / "ckpt" / "model_step_2.pt").is_file()
    pretrain = json.loads((out / "mfm" / "seed0" / "pretrain" / "config.json").read_text())
    assert [s["tasks"] for t in pretrain["targets"] for s in t["splits"]] == [["mlm", "mfm-nce"]] * 2

    # resume: a finished table is read back, nothing runs again
    before = {p: p.stat().st_mtime for p in out.rglob("metrics.json")}
    again = _run(demo_dir, out)
    assert again.returncode == 0, again.stderr[-2000:]
    assert {p: p.stat().st_mtime for p in out.rglob("metrics.json")} == before
    assert json.loads((out / "table.json").read_text()) == table

    # another recipe into the same folder is refused, not mixed into the table
    other = _run(demo_dir, out, finetune_steps=3)
    assert other.returncode != 0 and "use another --output" in other.stderr.strip().splitlines()[-1]


def _spawned_workers(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    found = []
    for child in map(int, children):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            pass
    return found


def _running(pid: int) -> bool:
    try:  # an exited orphan may linger as a zombie until init reaps it
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_killed_table_run_takes_its_worker_processes_with_it(demo_dir, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "scripts/reproduce_demo.py", "--quick", "--corpus", str(demo_dir), "--output",
         str(tmp_path / "table"), "--model-config", "config/hero_tiny_model.json", "--text-init", "none",
         "--pretrain-steps", "100000", "--jobs", "2"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while len(workers := _spawned_workers(proc.pid)) < 2 and time.time() < deadline:
            time.sleep(0.2)
        assert len(workers) == 2, "the two (row, seed) workers did not start"
    finally:
        proc.kill()  # SIGKILL: the parent cannot clean up; its workers must notice on their own
        proc.wait()
    deadline = time.time() + 20
    while any(map(_running, workers)) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(map(_running, workers))
