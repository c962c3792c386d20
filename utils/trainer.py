"""The shared training loop: build → loop(batch → loss → step → log → validate/save) → finish.

A task family (pre-training, VCMR, VideoQA, VSM) hands the trainer a :class:`TrainingJob`: the
model, a resumable stream of ``(task, batch)`` micro-batches and how to run / validate them. The
trainer owns distribution, precision, the optimiser, checkpoints and logging.
"""
from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from config.loader import to_dict
from config.schema import TrainOptions
from optim.param_groups import build_param_groups
from optim.schedule import build_optimizer, build_scheduler
from utils.atomic_io import atomic_write_text
from utils.checkpointer import Checkpointer, ModelWriter, ResumeError
from utils.distributed import Distributed
from utils.precision import Precision
from utils.run_lock import RunLock, RunLockError, describe_holder
from utils.run_logger import RunLogger
from utils.seeding import rng_state, set_rng_state


class BatchStream(Protocol):
    """Resumable infinite stream of ``(task_name, batch)`` micro-batches (e.g. ``MetaLoader``)."""

    def __iter__(self) -> Iterator[tuple[str, Any]]: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...
    def close(self) -> None: ...  # release loader workers


@dataclass
class TrainingJob:
    """What a task family provides to the trainer."""

    model: nn.Module                     # unwrapped task model, on the target device
    save_model: ModelWriter              # writes ckpt/model_step_N.pt / model_best.pt (the task's format)
    batches: BatchStream
    forward: Callable[[nn.Module, str, Any, int], Any]   # (model, task, batch, step) → output with .loss
    scalars: Callable[[str, Any], dict[str, float]]      # values to log for one output
    validate: Callable[[nn.Module, int], dict[str, dict[str, float]]] | None = None
    # (task, metric) whose highest value marks the best model, kept as ckpt/model_best.pt
    best_metric: tuple[str, str] | None = None
    # what the data readers kept and dropped, by reason; written to log/data_report.json
    data_report: dict[str, Any] | None = None


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def set_dropout(model: nn.Module, probability: float) -> None:
    """Force one dropout probability everywhere (the reference's ``--dropout``)."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = probability
        if hasattr(module, "attention_dropout"):
            module.attention_dropout = probability


class NonFiniteLoss(RuntimeError):
    pass


class Trainer:
    """Runs ``job`` for ``cfg.num_train_steps`` optimiser updates, resuming from ``output_dir``."""

    def __init__(self, cfg: TrainOptions, job: TrainingJob, dist: Distributed,
                 allow_config_change: bool = False, overwrite: bool = False) -> None:
        self.cfg, self.job, self.dist = cfg, job, dist
        self.lock = self._claim_output_dir()
        set_dropout(job.model, cfg.dropout)
        self.model = dist.wrap_model(job.model)
        self.optimizer = build_optimizer(build_param_groups(job.model, cfg.weight_decay, cfg.lr_mul),
                                         cfg.learning_rate, tuple(cfg.betas), cfg.optim)
        self.scheduler = build_scheduler(self.optimizer, cfg.learning_rate, cfg.warmup_steps,
                                         cfg.num_train_steps)
        self.precision = Precision(cfg.precision, dist.device)
        self.checkpointer = Checkpointer(cfg.output_dir, cfg.save_steps, cfg.valid_steps, job.save_model,
                                         cfg.keep_checkpoints, dist.is_main)
        self.step = 0
        self.skipped_steps = 0
        leftovers = self.checkpointer.remove_leftover_temporaries()
        if self.checkpointer.check_or_write_config(to_dict(cfg), allow_config_change, overwrite):
            self._restore()
        self.logger = RunLogger(self.checkpointer.log_dir, cfg.num_train_steps, self.step,
                                cfg.log_steps, dist.is_main)
        if self.lock is not None and self.lock.previous_holder:
            self.logger.info(f"warning: took over {cfg.output_dir} from a run that ended without releasing it "
                             f"({describe_holder(self.lock.previous_holder)})")
        if leftovers:
            self.logger.info(f"removed {len(leftovers)} temporary file(s) of interrupted saves: "
                             + ", ".join(p.name for p in leftovers))
        if cfg.warmup_steps > cfg.num_train_steps:
            self.logger.info(f"warning: warmup_steps {cfg.warmup_steps} > num_train_steps {cfg.num_train_steps}: "
                             "the learning rate never reaches learning_rate")
        if job.data_report is not None and dist.is_main:
            atomic_write_text(self.checkpointer.log_dir / "data_report.json",
                              json.dumps(job.data_report, indent=2, sort_keys=True))

    # ---------------------------------------------------------------------------------- loop
    def train(self) -> None:
        """The whole run; every component decides its own cadence."""
        updates = self._updates()
        try:
            while self.step < self.cfg.num_train_steps:
                task, micro_batches = next(updates)
                scalars = self.train_step(task, micro_batches)
                self.step += 1
                self.logger.train_step(self.step, task, scalars, self.scheduler.get_last_lr()[0])
                self._maybe_validate()
                self.checkpointer.maybe_save(self.step, self._state, self._model_state,
                                             final=self.step == self.cfg.num_train_steps)
            if self.skipped_steps:
                self.logger.info(f"{self.skipped_steps} update(s) skipped for non-finite losses")
        finally:
            self.job.batches.close()  # loader worker processes end with the run, not at interpreter exit
            self.logger.close()
            if self.lock is not None:
                self.lock.release()

    def train_step(self, task: str, micro_batches: list[Any]) -> dict[str, float]:
        """Forward/backward every micro-batch (gradients summed, as the reference), then one update."""
        self.model.train()
        totals: dict[str, float] = {}
        for index, batch in enumerate(micro_batches):
            last = index == len(micro_batches) - 1
            batch = batch.to(self.dist.device)
            with self.dist.no_sync(self.model, sync=last), self.precision.autocast():
                output = self.job.forward(self.model, task, batch, self.step + 1)
            if not self._all_finite(output.loss):
                self.logger.info(f"step {self.step + 1} task {task}: non-finite loss "
                                 f"({output.loss.item():.4g}); update skipped")
                self.optimizer.zero_grad(set_to_none=True)
                self.skipped_steps += 1
                return {"skipped": 1.0}
            with self.dist.no_sync(self.model, sync=last):
                self.precision.backward(output.loss)
            for name, value in self.job.scalars(task, output).items():
                totals[name] = totals.get(name, 0.0) + value / len(micro_batches)
        self.dist.synchronize_gradients(self.model)
        totals["grad_norm"] = self.precision.step(self.optimizer, [p for p in self.model.parameters()
                                                                   if p.requires_grad], self.cfg.grad_norm)
        with warnings.catch_warnings():
            # The schedule follows the global step (as the reference's) also when fp16's GradScaler
            # skipped this update; torch warns about exactly that case.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
            self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return totals

    # ------------------------------------------------------------------------------ helpers
    def _updates(self) -> Iterator[tuple[str, list[Any]]]:
        """Group the stream's micro-batches per update (they share one task)."""
        stream = iter(self.job.batches)
        while True:
            group = [next(stream) for _ in range(self.cfg.gradient_accumulation_steps)]
            yield group[0][0], [batch for _, batch in group]

    def _all_finite(self, loss: torch.Tensor) -> bool:
        bad = torch.tensor([0.0 if torch.isfinite(loss.detach()).all() else 1.0])
        return float(self.dist.all_reduce_sum(bad)) == 0

    def _maybe_validate(self) -> None:
        if self.job.validate is None or self.step % self.cfg.valid_steps:
            return
        metrics = self.job.validate(self.model, self.step)
        self.logger.validation(self.step, metrics)
        if self.job.best_metric is not None:
            task, name = self.job.best_metric
            self.checkpointer.maybe_keep_best(self.step, metrics[task][name], self._model_state, f"{task}/{name}")

    def _model_state(self) -> dict[str, torch.Tensor]:
        return unwrap(self.model).state_dict()

    def _state(self) -> dict[str, Any]:
        """Resumable state; per-rank parts (RNG, data position) are gathered to every rank."""
        per_rank = self.dist.all_gather_object({"rng": rng_state(), "batches": self.job.batches.state_dict()})
        return {"step": self.step, "skipped_steps": self.skipped_steps, "model": self._model_state(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.precision.state_dict(), "per_rank": per_rank,
                "world_size": self.dist.world_size}

    def _claim_output_dir(self) -> RunLock | None:
        """Rank 0 locks the output folder; every rank learns whether it could (no rank goes on alone)."""
        lock, refusal = None, None
        if self.dist.is_main:
            try:
                lock = RunLock(self.cfg.output_dir).acquire()
            except RunLockError as error:
                refusal = str(error)
        refusal = self.dist.broadcast_object(refusal)
        if refusal:
            raise RunLockError(refusal)
        return lock

    def _restore(self) -> None:
        state = self.checkpointer.load_state()
        if state["world_size"] != self.dist.world_size:
            raise ResumeError(f"{self.cfg.output_dir}: saved with {state['world_size']} processes, resumed "
                              f"with {self.dist.world_size}; exact resume needs the same number of processes "
                              "(or fine-tune from ckpt/model_step_N.pt with --checkpoint in a new output_dir)")
        unwrap(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.precision.load_state_dict(state["scaler"])
        mine = state["per_rank"][self.dist.rank]
        self.job.batches.load_state_dict(mine["batches"])
        set_rng_state(mine["rng"])
        self.step, self.skipped_steps = state["step"], state["skipped_steps"]
