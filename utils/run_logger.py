"""Progress bar, console lines and TensorBoard events; everything is a no-op on ranks ≠ 0."""
from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm


class RunLogger:
    """Averages per-task training scalars between logging steps and writes them on rank 0."""

    def __init__(self, log_dir: str | Path, total_steps: int, start_step: int, log_steps: int,
                 enabled: bool) -> None:
        self.enabled = enabled
        self.log_steps = log_steps
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)
        self._last_time, self._last_step = time.perf_counter(), start_step
        self.writer = None
        self.bar = None
        self.losses = None
        if enabled:
            from tensorboardX import SummaryWriter
            self.writer = SummaryWriter(str(log_dir))
            self.losses = self._open_loss_log(Path(log_dir) / "train_losses.jsonl", start_step)
            self.bar = tqdm(total=total_steps, initial=start_step, dynamic_ncols=True,
                            file=sys.stdout, mininterval=1.0)

    @staticmethod
    def _open_loss_log(path: Path, start_step: int):
        """Per-update losses, one JSON line each; on resume, lines past the restored step are dropped
        (a killed run may have logged updates that were never saved)."""
        kept = []
        if start_step and path.is_file():
            kept = [line for line in path.read_text().splitlines()
                    if line and json.loads(line)["step"] <= start_step]
        handle = path.open("w")
        handle.writelines(line + "\n" for line in kept)
        handle.flush()
        return handle

    def info(self, message: str) -> None:
        if self.enabled:
            tqdm.write(message, file=sys.stdout)

    def train_step(self, step: int, task: str, scalars: dict[str, float], lr: float) -> None:
        """Accumulate this update's scalars; every ``log_steps`` write their means."""
        if not self.enabled:
            return
        self.losses.write(json.dumps({"step": step, "task": task, **scalars}) + "\n")
        self.losses.flush()
        for name, value in scalars.items():
            self._sums[f"{task}/{name}"] += value
            self._counts[f"{task}/{name}"] += 1
        self.bar.update(1)
        if step % self.log_steps:
            return
        now = time.perf_counter()
        steps_per_s = (step - self._last_step) / max(now - self._last_time, 1e-9)
        self._last_time, self._last_step = now, step
        means = {k: self._sums[k] / self._counts[k] for k in self._sums}
        for name, value in means.items():
            self.writer.add_scalar(f"train/{name}", value, step)
        self.writer.add_scalar("train/lr", lr, step)
        self.writer.add_scalar("train/steps_per_s", steps_per_s, step)
        shown = " ".join(f"{k.replace('/loss', '')}={v:.3f}" for k, v in sorted(means.items()) if k.endswith("/loss"))
        self.bar.set_postfix_str(f"{shown} {steps_per_s:.2f}it/s", refresh=False)
        self._sums.clear()
        self._counts.clear()

    def validation(self, step: int, metrics: dict[str, dict[str, float]]) -> None:
        if not self.enabled:
            return
        parts = []
        for task, values in sorted(metrics.items()):
            for name, value in values.items():
                self.writer.add_scalar(f"valid/{task}/{name}", value, step)
            parts.append(f"{task}: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
        self.info(f"step {step} validation | " + " | ".join(parts))
        self.writer.flush()

    def close(self) -> None:
        if self.enabled:
            self.bar.close()
            self.writer.close()
            self.losses.close()
