#!/usr/bin/env python
"""Fault injection: SIGKILL a short pre-training at random moments, resume it each time, and check that the
result is bit-identical to an uninterrupted run and that nothing is left behind.

    python scripts/chaos_resume.py --kills 10 --seed 0

One uninterrupted run (tiny model, demo corpus, ``--steps`` updates) is the reference. The chaos run is
started and killed with SIGKILL at a random moment (seeded: once a random number of updates is logged,
plus a random fraction of an update's time — so kills land in start-up, in steps and in saves), restarted
with the same command, ``--kills`` times, then left to finish. Checked: the
per-update loss log and every tensor of the final model checkpoint equal the reference's, and no
temporary file of an interrupted save is left in ``ckpt/`` or ``log/``. Exit 0 only if all hold; the last
line is a JSON summary.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import _bootstrap  # noqa: F401  (repository root on sys.path)
import torch

ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kills", type=int, default=10, help="SIGKILLs before the run may finish (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill moments (default 0)")
    p.add_argument("--steps", type=int, default=24, help="updates of the run (default 24)")
    p.add_argument("--save-steps", type=int, default=2, help="training state saved every N updates (default 2)")
    p.add_argument("--demo-dir", type=Path, default=ROOT / "demo_data", help="demo corpus (built if missing)")
    p.add_argument("--work", type=Path, default=None, help="folder for the runs (default: a new temporary one)")
    return p.parse_args()


def write_config(work: Path, demo: Path, name: str, steps: int, save_steps: int) -> Path:
    model = ROOT / "config/hero_tiny_model.json"  # hidden 32, 2+1 layers: seconds per run
    cfg = json.loads((ROOT / "config/pretrain-demo.json").read_text())
    cfg.update(model_config=str(model), text_init=None, demo_corpus=str(demo), txt_db=str(demo), img_db=str(demo),
               output_dir=str(work / name), num_train_steps=steps, valid_steps=max(steps // 2, 1),
               save_steps=save_steps, log_steps=1, warmup_steps=2, n_workers=0, train_batch_size=4,
               val_batch_size=8, query_per_video=2, hard_negtiave_start_step=[steps // 2])
    path = work / f"{name}.json"
    path.write_text(json.dumps(cfg))
    return path


def command(config: Path) -> list[str]:
    return [sys.executable, str(ROOT / "pretrain.py"), "--config", str(config)]


def environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def run_to_end(config: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(command(config), cwd=ROOT, env=environment(), capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"error: {config.stem} run failed (exit {result.returncode}): {result.stderr.strip()[-500:]}")
    return time.perf_counter() - start


def progressed(losses: Path, since: float, target: int, restored: int) -> bool:
    """This process's run has logged ``target`` updates (lines of an earlier, killed process do not count
    until the new run has rewritten the log on start); a target at the resume point: at once (the kill
    lands in start-up)."""
    if target <= restored:
        return True
    if not losses.is_file() or losses.stat().st_mtime < since:
        return False
    return len(losses.read_text().splitlines()) >= target


def compare(reference: Path, chaos: Path, steps: int) -> list[str]:
    problems = []
    if (reference / "log/train_losses.jsonl").read_text() != (chaos / "log/train_losses.jsonl").read_text():
        problems.append("train_losses.jsonl differs")
    ref = torch.load(reference / f"ckpt/model_step_{steps}.pt", weights_only=True)["state_dict"]
    got = torch.load(chaos / f"ckpt/model_step_{steps}.pt", weights_only=True)["state_dict"]
    different = [k for k in ref if k not in got or not torch.equal(ref[k], got[k])]
    if different or set(got) != set(ref):
        problems.append(f"final weights differ ({len(different)} tensors, e.g. {different[:3]})")
    leftovers = [p.name for folder in ("ckpt", "log") for p in (chaos / folder).iterdir() if p.name.endswith(".tmp")]
    if leftovers:
        problems.append(f"temporary files left: {leftovers}")
    return problems


def main() -> int:
    args = parse_args()
    work = args.work or Path(__import__("tempfile").mkdtemp(prefix="chaos_resume."))
    work.mkdir(parents=True, exist_ok=True)
    for name in ("reference", "chaos"):
        shutil.rmtree(work / name, ignore_errors=True)
    reference_config = write_config(work, args.demo_dir, "reference", args.steps, args.save_steps)
    chaos_config = write_config(work, args.demo_dir, "chaos", args.steps, args.save_steps)
    duration = run_to_end(reference_config)  # also builds the demo corpus when missing
    print(f"reference: {args.steps} updates in {duration:.1f} s")
    rng = random.Random(args.seed)
    losses = work / "chaos/log/train_losses.jsonl"
    effective = 0
    state_file = work / "chaos/ckpt/train_state.pt"
    for kill in range(1, args.kills + 1):
        # Kill within the next few saves after the point a restart resumes from, so the kills spread over the
        # whole run: in start-up (target == restored), inside steps and inside saves.
        restored = torch.load(state_file, weights_only=True)["step"] if state_file.is_file() else 0
        if restored >= args.steps:
            print(f"kill {kill}/{args.kills}: the run has finished; no more kills")
            break
        target = min(args.steps - 1, restored + rng.randrange(2 * args.save_steps + 1))
        extra = rng.uniform(0, duration / 2 if target == restored else duration / args.steps)
        started = time.time()
        process = subprocess.Popen(command(chaos_config), cwd=ROOT, env=environment(),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while process.poll() is None and not progressed(losses, started, target, restored):
            time.sleep(0.01)
        time.sleep(extra)
        finished = process.poll() is not None
        process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate()
        if finished and process.returncode != 0:
            sys.exit(f"error: resumed run failed (exit {process.returncode}): {stderr.decode().strip()[-500:]}")
        logged = len(losses.read_text().splitlines()) if losses.is_file() else 0
        effective += not finished
        print(f"kill {kill}/{args.kills}: resumed from step {restored}, killed at >= {target} updates + "
              f"{extra:.2f} s: " + ("run had already finished" if finished else f"{logged} updates logged"))
    run_to_end(chaos_config)
    problems = compare(work / "reference", work / "chaos", args.steps)
    for problem in problems:
        print(f"FAILED: {problem}")
    print(json.dumps({"kills": args.kills, "effective_kills": effective, "seed": args.seed, "steps": args.steps,
                      "identical": not problems, "work": str(work)}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
