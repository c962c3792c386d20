"""pretrain.py as a user runs it (real processes, demo corpus, tiny model): checkpoints, logs,
exact resume after SIGKILL, refused config change, bf16 tracking fp32, multi-process backends."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers_runs import ROOT, find_horovodrun, read_losses, run_script, tiny_pretrain_config


def losses_by_step(run_dir):
    return {row["step"]: (row["task"], row["loss"]) for row in read_losses(run_dir)}


@pytest.fixture(scope="module")
def reference_run(demo_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uninterrupted")
    config = tiny_pretrain_config(tmp, demo_dir)
    result = run_script(["pretrain.py", "--config", str(config)])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return tmp / "run", config


def test_run_writes_checkpoints_logs_and_hps(reference_run):
    run_dir, _ = reference_run
    losses = losses_by_step(run_dir)
    assert sorted(losses) == list(range(1, 13))
    assert {task.split("_")[0] for task, _ in losses.values()} >= {"mlm", "mfm-nce", "vsm"}
    assert (run_dir / "ckpt" / "model_step_12.pt").is_file() and (run_dir / "ckpt" / "train_state.pt").is_file()
    assert list((run_dir / "log").glob("events.out.tfevents.*"))
    assert json.loads((run_dir / "log" / "hps.json").read_text())["num_train_steps"] == 12


def test_sigkill_and_resume_reproduces_losses_exactly(reference_run, demo_dir, tmp_path):
    reference_dir, _ = reference_run
    config = tiny_pretrain_config(tmp_path, demo_dir)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "pretrain.py", "--config", str(config)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    losses_file = tmp_path / "run" / "log" / "train_losses.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline:  # kill between two saves (state saved at step 4 and 8)
        if losses_file.is_file() and len(losses_file.read_text().splitlines()) >= 6:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(read_losses(tmp_path / "run")) < 12, "the run finished before it could be killed"
    resumed = run_script(["pretrain.py", "--config", str(config)])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert losses_by_step(tmp_path / "run") == losses_by_step(reference_dir)


def test_changed_config_on_resume_is_refused(reference_run):
    _, config = reference_run
    result = run_script(["pretrain.py", "--config", str(config), "--learning_rate", "0.5"])
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "learning_rate" in lines[0] and "--allow-config-change" in lines[0]


def test_bf16_losses_track_fp32(reference_run, demo_dir, tmp_path):
    reference_dir, _ = reference_run
    config = tiny_pretrain_config(tmp_path, demo_dir, num_train_steps=6, precision="bf16")
    result = run_script(["pretrain.py", "--config", str(config)])
    assert result.returncode == 0, result.stderr[-2000:]
    fp32, bf16 = losses_by_step(reference_dir), losses_by_step(tmp_path / "run")
    for step in range(1, 7):
        assert fp32[step][0] == bf16[step][0]
        assert abs(fp32[step][1] - bf16[step][1]) <= 0.05 * abs(fp32[step][1]) + 0.05, step


@pytest.mark.multiprocess
@pytest.mark.parametrize("launcher", ["torchrun", "horovodrun"])
def test_two_process_pretraining(launcher, demo_dir, tmp_path):
    config = tiny_pretrain_config(tmp_path, demo_dir, num_train_steps=4, save_steps=2, valid_steps=4)
    if launcher == "torchrun":
        cmd = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "pretrain.py"]
    else:
        horovodrun = find_horovodrun()
        if horovodrun is None:
            if os.environ.get("HERO_REQUIRE_HOROVOD"):
                pytest.fail("horovodrun not found but HERO_REQUIRE_HOROVOD is set")
            pytest.skip("horovod not installed (bash scripts/install_horovod.sh)")
        cmd = [horovodrun, "-np", "2", "-H", "localhost:2", "--gloo", sys.executable, "pretrain.py"]
    args = cmd + ["--config", str(config)]
    if launcher == "torchrun":
        result = run_script(args)
    else:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "validation" in result.stdout and (tmp_path / "run" / "ckpt" / "model_step_4.pt").is_file()
    assert json.loads((tmp_path / "run" / "log" / "hps.json").read_text())["backend"] == "auto"
