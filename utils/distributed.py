"""One small abstraction over the two distributed backends: torch.distributed (torchrun; gloo on
CPU, NCCL on GPU) and Horovod (horovodrun). Single-process runs use the same code path.

The trainer only calls the methods of :class:`Distributed`; nothing else in the library imports a
backend. In-batch negatives for VSM/VCMR are gathered with :meth:`Distributed.all_gather_with_grad`,
whose backward sums the gradient over ranks, so a run on N processes computes the same gradients as
one process on the combined batch.
"""
from __future__ import annotations

import atexit
import contextlib
import datetime
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

import torch
from torch import nn


def _detect_backend() -> str:
    if "HOROVOD_RANK" in os.environ or "HOROVOD_HOSTNAME" in os.environ:
        return "horovod"
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return "torch"
    return "single"


@dataclass
class Distributed:
    """Rank facts plus the collective operations the trainer needs."""

    backend: str = "single"  # single | torch | horovod
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    _hvd: Any = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ----------------------------------------------------------------- collectives (no autograd)
    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum over ranks (returns a new tensor)."""
        if self.world_size == 1:
            return tensor.clone()
        if self.backend == "horovod":
            return self._hvd.allreduce(tensor, op=self._hvd.Sum)
        out = tensor.clone()
        torch.distributed.all_reduce(out, op=torch.distributed.ReduceOp.SUM)
        return out

    def all_gather_object(self, obj: Any) -> list[Any]:
        """Every rank's Python object, in rank order."""
        if self.world_size == 1:
            return [obj]
        if self.backend == "horovod":
            return self._hvd.allgather_object(obj, name="allgather_object")
        out: list[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        if self.world_size == 1:
            return obj
        if self.backend == "horovod":
            # An explicit name: the default is the object's type, which differs between ranks → hang.
            return self._hvd.broadcast_object(obj, root_rank=root, name="broadcast_object")
        box = [obj]
        torch.distributed.broadcast_object_list(box, src=root)
        return box[0]

    def barrier(self) -> None:
        if self.world_size == 1:
            return
        if self.backend == "horovod":
            self._hvd.allreduce(torch.zeros(1), name="barrier")
        else:
            torch.distributed.barrier()

    def _gather_padded(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """All ranks' tensors, each padded to the largest size on every axis (no autograd)."""
        sizes = torch.tensor(tensor.shape, dtype=torch.long)
        all_sizes = torch.stack(self.all_gather_object(sizes))  # (world, ndim)
        max_size = all_sizes.max(0).values.tolist()
        padded = tensor.new_zeros(max_size)
        padded[tuple(slice(0, s) for s in tensor.shape)] = tensor
        if self.backend == "horovod":
            stacked = self._hvd.allgather(padded[None], name=None)
            gathered = list(stacked.unbind(0))
        else:
            gathered = [torch.empty_like(padded) for _ in range(self.world_size)]
            torch.distributed.all_gather(gathered, padded)
        return [g[tuple(slice(0, int(s)) for s in sizes_r[:1])] for g, sizes_r in zip(gathered, all_sizes)]

    # ------------------------------------------------------------------- autograd-aware gather
    def all_gather_with_grad(self, tensor: torch.Tensor) -> torch.Tensor:
        """Concatenate every rank's tensor along dim 0 (other dims padded with zeros to the max).

        Backward sums the incoming gradient over ranks and returns this rank's slice: every rank
        computes the same global loss, so the summed gradient is the combined-batch gradient.
        Bool tensors are gathered without gradient.
        """
        if self.world_size == 1:
            return tensor
        if tensor.dtype == torch.bool:
            return torch.cat(self._gather_padded(tensor.to(torch.uint8)), 0).bool()
        return _GatherWithGrad.apply(tensor, self)

    # ------------------------------------------------------------------------ model & gradients
    def wrap_model(self, model: nn.Module) -> nn.Module:
        """DDP for torch.distributed; Horovod syncs gradients in :meth:`synchronize_gradients`."""
        if self.backend == "torch" and self.world_size > 1:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            # Each pre-training task uses a different subset of the heads.
            return nn.parallel.DistributedDataParallel(model, device_ids=device_ids,
                                                       find_unused_parameters=True)
        if self.backend == "horovod" and self.world_size > 1:
            self._hvd.broadcast_parameters(model.state_dict(), root_rank=0)
        return model

    def no_sync(self, model: nn.Module, sync: bool) -> contextlib.AbstractContextManager:
        """Skip DDP's gradient all-reduce on the micro-steps before the last one."""
        if not sync and isinstance(model, nn.parallel.DistributedDataParallel):
            return model.no_sync()
        return contextlib.nullcontext()

    def synchronize_gradients(self, model: nn.Module) -> None:
        """Horovod: average gradients over ranks (DDP already did it during backward)."""
        if self.backend != "horovod" or self.world_size == 1:
            return
        params = [p for p in model.parameters() if p.requires_grad]
        for p in params:  # a task leaves other heads without gradients: average zeros for them
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        reduced = self._hvd.grouped_allreduce([p.grad for p in params], op=self._hvd.Average)
        for p, g in zip(params, reduced):
            p.grad.copy_(g)

    def shutdown(self) -> None:
        if self.backend == "torch" and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        elif self.backend == "horovod":
            self._hvd.shutdown()


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor: torch.Tensor, dist: Distributed) -> torch.Tensor:  # type: ignore[override]
        parts = dist._gather_padded(tensor)
        ctx.dist = dist
        ctx.local_shape = tensor.shape
        ctx.offset = sum(len(p) for p in parts[: dist.rank])
        return torch.cat(parts, 0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        total = ctx.dist.all_reduce_sum(grad.contiguous())
        local = total[ctx.offset: ctx.offset + ctx.local_shape[0]]
        return local[tuple(slice(0, s) for s in ctx.local_shape)], None


def init_distributed(backend: str = "auto", timeout_minutes: int = 30) -> Distributed:
    """Start the backend chosen by ``backend`` (auto: horovodrun → Horovod, torchrun → torch)."""
    chosen = _detect_backend() if backend == "auto" else backend
    if chosen == "single":
        device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
        return Distributed(device=device)
    if chosen == "horovod":
        try:
            import horovod.torch as hvd
        except ImportError as error:
            raise RuntimeError("backend 'horovod' requested but horovod is not installed "
                               "(bash scripts/install_horovod.sh)") from error
        hvd.init()
        local_rank = hvd.local_rank()
        device = _device_for(local_rank)
        return Distributed("horovod", hvd.rank(), hvd.size(), local_rank, device, hvd)
    if chosen == "torch":
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        device = _device_for(local_rank)
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group(
                "nccl" if device.type == "cuda" else "gloo",
                timeout=datetime.timedelta(minutes=timeout_minutes))
        return Distributed("torch", torch.distributed.get_rank(), torch.distributed.get_world_size(),
                           local_rank, device)
    raise ValueError(f"unknown distributed backend {backend!r} (expected auto, single, torch, horovod)")


def _device_for(local_rank: int) -> torch.device:
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


@contextlib.contextmanager
def distributed_session(backend: str = "auto") -> Iterator[Distributed]:
    """``with distributed_session() as dist:`` — shuts the backend down on every exit path.

    A multi-process run must then end with :func:`leave_session` (see there for why).
    """
    dist = init_distributed(backend)
    try:
        yield dist
        # Normal exit: wait for every rank before tearing down, so no rank destroys its process group
        # while a peer is still working. Not on error paths: a failed peer would never arrive.
        dist.barrier()
    finally:
        dist.shutdown()


def leave_session(dist: Distributed, code: int = 0) -> int:
    """The last call of a process that ran a distributed session: returns ``code`` for a single process,
    and ends a multi-process one with :func:`exit_without_finalization`."""
    if dist.world_size > 1:
        exit_without_finalization(code)
    return code


def exit_without_finalization(code: int = 0) -> NoReturn:
    """Finish the process's work, then leave without CPython's interpreter finalization.

    Why (torch 2.13.0, CPython 3.11, gloo): ``destroy_process_group()`` does not stop gloo's worker
    threads once DDP has been built (torch keeps ~10 references to the process group), so they outlive
    the script. A worker that finishes a collective destroys its ``AsyncWork``, whose captured
    ``ThreadLocalState`` holds a Python object; the decref takes the GIL. If the main thread has already
    entered ``Py_FinalizeEx`` by then (it returns from ``wait()`` before the worker drops the work),
    CPython 3.11 ends that thread with ``pthread_exit``, whose forced unwind crosses a ``noexcept``
    destructor: ``std::terminate`` — "terminate called without an active exception", SIGABRT, and the
    launcher marks a finished run as failed (seen in core dumps: ``take_gil → PyThread_exit_thread`` under
    ``ProcessGroupGloo::runLoop → ~AsyncWork → ~ThreadLocalState``). No Python code can join those
    threads, so the process does every part of a normal exit that matters — non-daemon threads joined,
    ``atexit`` handlers run (multiprocessing reaps DataLoader workers, logging flushes), stdio flushed —
    and then skips only the finalization in which the abort happens.
    """
    main = threading.main_thread()
    for thread in threading.enumerate():
        if thread is not main and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
