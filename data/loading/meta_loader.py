"""Infinite, exactly resumable batch streams per task, and the multi-task ``MetaLoader`` (hero-reference.md §2.1).

- :class:`TaskStream` wraps one ``DataLoader`` over a :class:`data.sampling.ShardedSampler`. Its state is
  (epoch, batches handed to the caller in this epoch): batches prefetched by workers but not yet returned
  are not counted, so a resumed stream starts exactly at the next batch the caller would have seen.
- :class:`MetaLoader` picks the task of every optimizer update with probability ∝ its ratio from an RNG
  keyed by (seed, update index): every rank computes the same task without communication (the reference
  broadcast a pickled name each step, §8.21), and all ``accum_steps`` micro-batches of an update use it.
- :func:`validation_loader`: one full, ordered, deterministic pass over a dataset's rank shard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from data.loading.sampling import KeyedDataset, ShardedSampler

_META_SALT = 0x4D455441  # separates the task draws from other uses of the same seed


class TaskStream:
    """Endless batches of one dataset, epoch after epoch, with an exact ``state_dict``.

    Args:
        dataset: a task dataset (its ``collate`` and ``groups`` are used).
        batch_size: items per batch (videos for pre-training, queries / questions for fine-tuning).
        rank, world_size: data shard of this process (``ids[rank::world_size]``).
        seed: order seed (the example randomness is the dataset's own seed).
        shuffle: new permutation each epoch.
        drop_last: drop each epoch's incomplete last batch (training).
        distinct_groups: honour ``dataset.groups`` (VCMR: one query per video in a batch).
        num_workers, pin_memory, prefetch_factor: ``DataLoader`` options; workers are persistent.
        collate_fn: overrides ``dataset.collate``.
    """

    def __init__(self, dataset: KeyedDataset, batch_size: int, *, rank: int = 0, world_size: int = 1,
                 seed: int = 0, shuffle: bool = True, drop_last: bool = True, distinct_groups: bool = True,
                 num_workers: int = 0, pin_memory: bool = False, prefetch_factor: int | None = None,
                 collate_fn: Callable[[list[Any]], Any] | None = None) -> None:
        self.dataset, self.batch_size = dataset, batch_size
        self.sampler = ShardedSampler(len(dataset), batch_size, rank=rank, world_size=world_size, seed=seed,
                                      shuffle=shuffle, drop_last=drop_last,
                                      groups=dataset.groups if distinct_groups else None)
        self.batches_per_epoch = -(-self.sampler.epoch_length() // batch_size)
        if self.batches_per_epoch == 0:
            raise ValueError(f"rank {rank} holds {len(self.sampler.shard)} items of {type(dataset).__name__}, "
                             f"fewer than one batch of {batch_size}; lower the batch size or drop_last")
        self._loader_options = {"collate_fn": collate_fn or dataset.collate, "num_workers": num_workers,
                                 "pin_memory": pin_memory, "persistent_workers": num_workers > 0}
        if num_workers > 0 and prefetch_factor:
            self._loader_options["prefetch_factor"] = prefetch_factor
        self.loader = self._make_loader()
        self.epoch = 0
        self.batch_in_epoch = 0
        self.total_batches = 0
        self._iterator: Iterator[Any] | None = None

    def _make_loader(self) -> DataLoader:
        # One loader for the whole run: its persistent workers survive epochs; the sampler is mutated
        # (set_epoch) before each iter(), which runs in this process.
        # A private generator: creating an iterator must not draw from the global torch RNG, or a
        # resumed run (which re-creates its iterators at other steps) would see different dropout.
        return DataLoader(self.dataset, batch_size=self.batch_size, sampler=self.sampler, drop_last=False,
                          generator=torch.Generator().manual_seed(self.sampler.seed), **self._loader_options)

    def close(self) -> None:
        """Release the worker processes (they restart, at the current position, on the next batch)."""
        self._iterator = None
        self.loader = self._make_loader()  # the old loader owned the persistent iterator and its workers

    def __iter__(self) -> TaskStream:
        return self

    def __next__(self) -> Any:
        if self._iterator is None:
            self.sampler.set_epoch(self.epoch, self.batch_in_epoch * self.batch_size)
            self._iterator = iter(self.loader)
        try:
            batch = next(self._iterator)
        except StopIteration:
            self.epoch, self.batch_in_epoch, self._iterator = self.epoch + 1, 0, None
            return next(self)
        self.batch_in_epoch += 1
        self.total_batches += 1
        return batch

    def state_dict(self) -> dict[str, int]:
        """Position after the last batch returned: ``epoch``, ``batch_in_epoch``, ``total_batches``."""
        return {"epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch, "total_batches": self.total_batches,
                "batch_size": self.batch_size, "num_items": len(self.dataset)}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        """Resume: the next batch is the one an uninterrupted stream would return after ``state``."""
        for key in ("batch_size", "num_items"):
            mine = self.batch_size if key == "batch_size" else len(self.dataset)
            if key in state and state[key] != mine:
                raise ValueError(f"cannot resume a stream saved with {key}={state[key]} into one with {mine}; "
                                 "the batches would differ")
        if not 0 <= state["batch_in_epoch"] <= self.batches_per_epoch:
            raise ValueError(f"batch_in_epoch {state['batch_in_epoch']} outside 0..{self.batches_per_epoch}")
        self.epoch, self.batch_in_epoch = int(state["epoch"]), int(state["batch_in_epoch"])
        self.total_batches = int(state.get("total_batches", 0))
        self._iterator = None  # prefetched batches of the old position are discarded by iter()


class MetaLoader:
    """Multi-task batches: yields ``(task_name, batch)``, one task per optimizer update.

    The task of update ``u`` is drawn from ``np.random.default_rng([seed, salt, u])`` with probability
    ``ratio / sum(ratios)`` over the task names in sorted order, so it depends only on (seed, u, ratios).

    Args:
        streams: task name → stream.
        ratios: task name → non-negative integer weight (missing = 1); reference TV: mlm 2, mfm-nce 2,
            fom 1, vsm 2.
        accum_steps: micro-batches per update (all from the drawn task).
        seed: task-draw seed; must be the same on every rank.
    """

    def __init__(self, streams: Mapping[str, TaskStream], ratios: Mapping[str, int] | None = None,
                 accum_steps: int = 1, seed: int = 0) -> None:
        ratios = dict(ratios or {})
        unknown = sorted(set(ratios) - set(streams))
        if unknown:
            raise ValueError(f"ratios for unknown tasks {unknown}; tasks are {sorted(streams)}")
        if accum_steps < 1:
            raise ValueError(f"accum_steps must be >= 1, got {accum_steps}")
        self.streams = dict(streams)
        self.names = sorted(streams)  # fixed order: independent of how each rank built the dict
        weights = np.array([ratios.get(n, 1) for n in self.names], dtype=np.float64)
        if (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"ratios must be >= 0 with a positive sum, got {dict(zip(self.names, weights))}")
        self.cumulative = np.cumsum(weights) / weights.sum()
        self.accum_steps, self.seed = accum_steps, seed
        self.micro_step = 0

    def task_for_update(self, update: int) -> str:
        """The task of optimizer update ``update`` (0-based)."""
        u = np.random.default_rng([self.seed, _META_SALT, update]).random()
        return self.names[min(int(np.searchsorted(self.cumulative, u, side="right")), len(self.names) - 1)]

    def __iter__(self) -> MetaLoader:
        return self

    def __next__(self) -> tuple[str, Any]:
        task = self.task_for_update(self.micro_step // self.accum_steps)
        batch = next(self.streams[task])
        self.micro_step += 1
        return task, batch

    def close(self) -> None:
        """Release every stream's loader workers (the run is over, or pauses for long)."""
        for stream in self.streams.values():
            stream.close()

    def state_dict(self) -> dict[str, Any]:
        """Micro-step counter and every stream's position."""
        return {"micro_step": self.micro_step, "seed": self.seed, "accum_steps": self.accum_steps,
                "streams": {name: stream.state_dict() for name, stream in self.streams.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume exactly after the micro-batch where ``state`` was taken."""
        if sorted(state["streams"]) != self.names:
            raise ValueError(f"saved tasks {sorted(state['streams'])} differ from {self.names}")
        for key, mine in (("seed", self.seed), ("accum_steps", self.accum_steps)):
            if key in state and state[key] != mine:
                raise ValueError(f"saved {key}={state[key]} differs from {mine}; the task sequence would change")
        for name, stream_state in state["streams"].items():
            self.streams[name].load_state_dict(stream_state)
        self.micro_step = int(state["micro_step"])


def validation_loader(dataset: KeyedDataset, batch_size: int, *, rank: int = 0, world_size: int = 1,
                      num_workers: int = 0, pin_memory: bool = False,
                      collate_fn: Callable[[list[Any]], Any] | None = None) -> DataLoader:
    """One full pass over ``dataset.ids[rank::world_size]`` in index order, keeping the last partial batch.

    Keys are (index, position), so with the dataset's fixed seed every pass yields identical batches
    (same masks for MLM/MFM/FOM/VSM validation), whatever the number of workers. Item ``i`` of the
    shard is ``dataset`` index ``rank + i · world_size`` (e.g. to name QA predictions).
    """
    sampler = ShardedSampler(len(dataset), batch_size, rank=rank, world_size=world_size, shuffle=False,
                             drop_last=False)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=False,
                      generator=torch.Generator().manual_seed(0),
                      collate_fn=collate_fn or dataset.collate, num_workers=num_workers, pin_memory=pin_memory)
