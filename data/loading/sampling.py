"""Sharded, resumable sampling with randomness that does not depend on workers or restarts.

A sampler yields keys ``(index, draw)``: ``index`` picks the dataset item, ``draw`` is a number unique
to (epoch, rank, position in the epoch). A dataset derives everything random about an example
(masking, reordering, query choice) from ``np.random.default_rng([seed, stream_id, draw])``, so an
example is a pure function of its key: the same whichever worker builds it, however many workers there
are, and after a restart that resumes at the same position.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset, Sampler

SampleKey = tuple[int, int]  # (item index, draw)
_SAMPLER_SALT = 0x5A3D  # separates the order RNG from the datasets' example RNGs


def stream_id(name: str) -> int:
    """Stable integer id of a randomness stream (Python's ``hash`` is salted per process)."""
    return zlib.crc32(name.encode("utf-8"))


def example_rng(seed: int, stream: int, draw: int) -> np.random.Generator:
    """The generator of one example: independent across (seed, stream, draw)."""
    return np.random.default_rng([seed, stream, draw])


def distinct_group_order(items: np.ndarray, groups: np.ndarray, batch_size: int) -> tuple[np.ndarray, int]:
    """Reorder ``items`` so that each consecutive block of ``batch_size`` has distinct groups.

    Greedy, keeping the given (random) order as much as possible: each block takes the next items
    whose group it does not hold yet; skipped items go back to the front for the next block. Only when
    the remaining items span fewer than ``batch_size`` groups does a block repeat a group.

    Returns:
        The reordered items and the number of repeated-group placements that could not be avoided.
    """
    pending = deque(items.tolist())
    out: list[int] = []
    repeats = 0
    while pending:
        seen: set[int] = set()
        deferred: list[int] = []
        taken = 0
        while pending and taken < batch_size:
            item = pending.popleft()
            group = int(groups[item])
            if group in seen:
                deferred.append(item)
            else:
                seen.add(group)
                out.append(item)
                taken += 1
        if taken < batch_size and deferred:  # nothing distinct left: fill the block anyway
            fill = deferred[: batch_size - taken]
            out.extend(fill)
            repeats += len(fill)
            deferred = deferred[len(fill):]
        pending.extendleft(reversed(deferred))
    return np.asarray(out, dtype=np.int64), repeats


class ShardedSampler(Sampler[SampleKey]):
    """Keys of one rank's shard ``ids[rank::world_size]``, one epoch at a time.

    The order is a permutation drawn from (seed, epoch, rank) (or the shard order when not shuffling);
    ``start`` skips the first positions of the epoch (resume); ``drop_last`` drops the incomplete last
    batch; ``groups`` (e.g. the video of each query) reorders the epoch so batches hold distinct groups.
    Mutable through :meth:`set_epoch`, so one ``DataLoader`` with persistent workers serves every epoch.

    Args:
        num_items: dataset size.
        batch_size: batch size the keys will be grouped into (for ``drop_last`` and ``groups``).
        rank, world_size: this process's shard.
        seed: order seed.
        shuffle: permute the shard each epoch.
        drop_last: drop the last incomplete batch of each epoch.
        groups: (num_items,) group id per item; batches avoid repeating a group.
        epoch, start: initial epoch and skipped positions.
    """

    def __init__(self, num_items: int, batch_size: int = 1, *, rank: int = 0, world_size: int = 1,
                 seed: int = 0, shuffle: bool = True, drop_last: bool = False,
                 groups: Sequence[int] | np.ndarray | None = None, epoch: int = 0, start: int = 0) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.num_items, self.batch_size = num_items, batch_size
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.shuffle, self.drop_last = shuffle, drop_last
        self.groups = None if groups is None else np.asarray(groups, dtype=np.int64)
        if self.groups is not None and len(self.groups) != num_items:
            raise ValueError(f"{len(self.groups)} group ids for {num_items} items")
        self.shard = np.arange(rank, num_items, world_size, dtype=np.int64)
        self.shard_capacity = -(-num_items // world_size)  # positions per rank and epoch, for draws
        self.repeats = 0  # unavoidable repeated groups in the last epoch order computed
        self.epoch, self.start = 0, 0
        self.set_epoch(epoch, start)

    def epoch_length(self) -> int:
        """Keys in a whole epoch (before ``start``)."""
        n = len(self.shard)
        return n - n % self.batch_size if self.drop_last else n

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch (order and draws) and the first position to yield."""
        if not 0 <= start <= self.epoch_length():
            raise ValueError(f"start {start} outside the epoch ({self.epoch_length()} keys)")
        self.epoch, self.start = epoch, start

    def epoch_order(self) -> np.ndarray:
        """Item indices of the whole current epoch, in order."""
        order = self.shard
        if self.shuffle:
            rng = np.random.default_rng([self.seed, _SAMPLER_SALT, self.epoch, self.rank])
            order = order[rng.permutation(len(order))]
        if self.groups is not None:
            order, self.repeats = distinct_group_order(order, self.groups, self.batch_size)
        return order[: self.epoch_length()]

    def draw_base(self) -> int:
        """First draw of the current epoch: draws are unique per (epoch, rank, position)."""
        return (self.epoch * self.world_size + self.rank) * self.shard_capacity

    def __iter__(self) -> Iterator[SampleKey]:
        order = self.epoch_order()
        base = self.draw_base()
        for position in range(self.start, len(order)):
            yield int(order[position]), base + position

    def __len__(self) -> int:
        return self.epoch_length() - self.start


class KeyedDataset(Dataset):
    """Base of the task datasets: ``dataset[(index, draw)]`` builds one example from its own RNG.

    Subclasses implement :meth:`example` and :meth:`collate`; a plain int key means draw 0.

    Args:
        seed: seed of the example randomness.
        stream: name of the randomness stream (the task), so tasks sharing a seed stay independent.
    """

    stream_name = "task"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.stream = stream_id(self.stream_name)

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, key: SampleKey | int) -> Any:
        index, draw = (key, 0) if isinstance(key, (int, np.integer)) else key
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} outside {type(self).__name__} of {len(self)} items")
        return self.example(int(index), example_rng(self.seed, self.stream, int(draw)))

    def example(self, index: int, rng: np.random.Generator) -> Any:
        """Build item ``index`` using only ``rng`` for randomness."""
        raise NotImplementedError

    def collate(self, examples: Sequence[Any]) -> Any:
        """Examples → one typed batch."""
        raise NotImplementedError

    @property
    def groups(self) -> np.ndarray | None:
        """Group id per item that a batch should not repeat (None = no constraint)."""
        return None
