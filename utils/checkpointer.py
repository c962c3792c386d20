"""Run folder bookkeeping: resolved config, model checkpoints and the resumable training state.

``output_dir/log/hps.json``           resolved config (written once; compared on resume)
``output_dir/ckpt/model_step_N.pt``   model only, written by the task's ``ModelWriter``
``output_dir/ckpt/train_state.pt``    everything needed to continue exactly: model, optimiser,
                                      scheduler, grad scaler, step, and per rank every RNG and the
                                      data position
All writes are atomic (temp file + rename), so a run killed at any moment leaves either the previous
or the new file, never a partial one.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from utils.atomic_io import atomic_torch_save, atomic_write_text

# Writes a model checkpoint file: (path, state_dict). The task decides the file format (it knows the
# model's config), the checkpointer decides when and where.
ModelWriter = Callable[[Path, dict[str, torch.Tensor]], None]

STATE_FILE = "train_state.pt"


class ResumeError(RuntimeError):
    """The run folder cannot be resumed with this config."""


class Checkpointer:
    """Saves on its own cadence; the training loop just calls :meth:`maybe_save`."""

    def __init__(self, output_dir: str | Path, save_steps: int, valid_steps: int, write_model: ModelWriter,
                 keep_last: int = 0, is_main: bool = True) -> None:
        self.root = Path(output_dir)
        self.ckpt_dir = self.root / "ckpt"
        self.log_dir = self.root / "log"
        self.save_steps = save_steps
        self.valid_steps = valid_steps
        self.write_model = write_model
        self.keep_last = keep_last
        self.is_main = is_main

    # ------------------------------------------------------------------------------ config
    def remove_leftover_temporaries(self) -> list[Path]:
        """Delete the temporary files of saves that were interrupted (``.NAME.*.tmp`` in ckpt/ and log/,
        the pattern of :mod:`utils.atomic_io`); returns them. Call only while holding the run lock."""
        removed = [p for folder in (self.ckpt_dir, self.log_dir) if folder.is_dir()
                   for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp") and p.is_file()]
        if self.is_main:
            for path in removed:
                path.unlink(missing_ok=True)
        return removed

    def model_steps(self) -> list[int]:
        """Steps of the ``model_step_N.pt`` files in the run folder, ascending."""
        if not self.ckpt_dir.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.ckpt_dir.glob("model_step_*.pt")
                      if (m := re.fullmatch(r"model_step_(\d+)\.pt", p.name)))

    def check_or_write_config(self, config: dict[str, Any], allow_change: bool, overwrite: bool = False) -> bool:
        """Write ``log/hps.json`` on a fresh run; on resume refuse a changed config.

        A folder that holds a run which cannot be resumed exactly is never silently restarted: model
        checkpoints without a training state (restarting would overwrite them), or a training state without
        its ``hps.json`` (the config could not be checked), are refused unless ``overwrite`` (start again
        here) or, for the missing ``hps.json``, ``allow_change``.

        Returns:
            True when a resumable state exists (the caller then loads it).
        """
        hps = self.log_dir / "hps.json"
        resuming = (self.ckpt_dir / STATE_FILE).is_file() and not overwrite
        steps = self.model_steps()
        if not resuming and steps and not overwrite:
            raise ResumeError(
                f"{self.root} holds model checkpoints up to model_step_{steps[-1]}.pt but no training state "
                f"({self.ckpt_dir / STATE_FILE}) to resume from; restarting would overwrite them: start again "
                f"here with --overwrite, use another output_dir, or fine-tune from the latest with --checkpoint "
                f"{self.ckpt_dir / f'model_step_{steps[-1]}.pt'}")
        if resuming and not hps.is_file() and not allow_change:
            raise ResumeError(f"{self.root} holds a training state but no {hps}, so the config cannot be "
                              "checked: restore that file, or resume with this config with --allow-config-change")
        if resuming and hps.is_file():
            try:
                previous = json.loads(hps.read_text())
            except (OSError, ValueError) as error:
                raise ResumeError(f"{hps}: not a readable run config ({error}); restore it, or resume with "
                                  "this config with --allow-config-change") from None
            changed = sorted(k for k in set(previous) | set(config) if previous.get(k) != config.get(k))
            if changed and not allow_change:
                raise ResumeError(
                    f"{self.root} holds a run with a different config (changed: {', '.join(changed)}); "
                    f"use another output_dir, or --allow-config-change to resume anyway")
        if self.is_main and (not resuming or not hps.is_file() or allow_change):
            atomic_write_text(hps, json.dumps(config, indent=2, sort_keys=True))
        return resuming

    # ------------------------------------------------------------------------------ saving
    def maybe_save(self, step: int, build_state, model_state, final: bool = False) -> None:
        """Model checkpoint every ``valid_steps`` (and at the end); training state every ``save_steps``.

        ``build_state`` is called on every rank (it gathers per-rank RNG / data positions); only the
        main rank writes.
        """
        if final or step % self.valid_steps == 0:
            if self.is_main:
                self.write_model(self.ckpt_dir / f"model_step_{step}.pt", model_state())
                self._prune()
        if final or step % self.save_steps == 0:
            state = build_state()
            if self.is_main:
                atomic_torch_save(state, self.ckpt_dir / STATE_FILE)

    def maybe_keep_best(self, step: int, value: float, model_state, metric: str) -> bool:
        """Write ``ckpt/model_best.pt`` (and ``log/best.json``) when ``value`` beats the best so far."""
        record = self.log_dir / "best.json"
        best = json.loads(record.read_text())["value"] if record.is_file() else None
        if best is not None and value <= best:
            return False
        if self.is_main:
            self.write_model(self.ckpt_dir / "model_best.pt", model_state())
            atomic_write_text(record, json.dumps({"step": step, "metric": metric, "value": value}))
        return True

    def _prune(self) -> None:
        if self.keep_last <= 0:
            return
        for step in self.model_steps()[: -self.keep_last]:
            (self.ckpt_dir / f"model_step_{step}.pt").unlink(missing_ok=True)

    def load_state(self) -> dict[str, Any]:
        """The training state, read as data only (``weights_only``: tensors, numbers, strings, containers —
        a file that asks to unpickle anything else is refused, never executed)."""
        path = self.ckpt_dir / STATE_FILE
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for corrupt, foreign or unsafe files
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ResumeError(f"{path}: not a training state this library can read ({reason}); move it away "
                              "to start again, or resume from a copy") from None
        missing = [k for k in ("step", "model", "optimizer", "scheduler", "per_rank", "world_size")
                   if not isinstance(state, dict) or k not in state]
        if missing:
            raise ResumeError(f"{path}: not a training state of this library (missing {', '.join(missing)})")
        return state
