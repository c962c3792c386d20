"""Horovod (PyTorch + Gloo) smoke test.

Run with (after ``bash scripts/install_horovod.sh``)::

    horovodrun -np 2 -H localhost:2 --gloo python devtools/hvd_smoke.py
    # optional: also check torch.distributed (gloo) in the same processes
    horovodrun -np 2 -H localhost:2 --gloo python devtools/hvd_smoke.py --torch-dist

Every rank checks allreduce, allgather (differing first dims), broadcast of
model parameters and one DistributedOptimizer step against values computed
locally, prints one line, and exits non-zero on a wrong value.
"""
import argparse
import faulthandler
import socket
import sys
import time

import horovod.torch as hvd
import torch


def _model(seed):
    torch.manual_seed(seed)
    return torch.nn.Linear(4, 2)


def _batch(r):
    """Rank-dependent but deterministic input/target, so every rank can
    recompute what the others see."""
    g = torch.Generator().manual_seed(100 + r)
    return torch.randn(3, 4, generator=g), torch.randn(3, 2, generator=g)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torch-dist", action="store_true",
                    help="also init torch.distributed (gloo) in this process")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="watchdog: dump stacks and exit(1) after this many seconds")
    args = ap.parse_args()
    # a mismatched collective hangs forever; fail loudly instead
    faulthandler.dump_traceback_later(args.timeout, exit=True)

    t0 = time.perf_counter()
    hvd.init()
    rank, size = hvd.rank(), hvd.size()
    torch.set_num_threads(1)
    errors = []

    def check(name, got, want, atol=1e-6):
        if got.shape != want.shape or not torch.allclose(got, want, atol=atol):
            errors.append(f"{name}: got {got.tolist()} want {want.tolist()}")

    # 1. allreduce (sum and default average) of a rank-dependent tensor
    t = torch.tensor([rank + 1.0, 10.0 * rank])
    s = hvd.allreduce(t, op=hvd.Sum, name="ar_sum")
    want_sum = torch.tensor([sum(r + 1.0 for r in range(size)),
                             sum(10.0 * r for r in range(size))])
    check("allreduce_sum", s, want_sum)
    check("allreduce_avg", hvd.allreduce(t, name="ar_avg"), want_sum / size)

    # 2. allgather with differing first dims: rank r contributes r+1 rows of r
    g = hvd.allgather(torch.full((rank + 1, 3), float(rank)), name="ag")
    want_g = torch.cat([torch.full((r + 1, 3), float(r)) for r in range(size)])
    check("allgather", g, want_g)

    # 3. broadcast_parameters: ranks start from different inits -> rank 0's
    model = _model(seed=rank)
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    ref = _model(seed=0)
    for (n, p), (_, q) in zip(model.named_parameters(), ref.named_parameters()):
        check(f"broadcast.{n}", p.detach(), q.detach())

    # 4. one DistributedOptimizer step: grads are averaged over ranks
    lr = 0.1
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    opt = hvd.DistributedOptimizer(opt, named_parameters=model.named_parameters())
    hvd.broadcast_optimizer_state(opt, root_rank=0)
    x, y = _batch(rank)
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    # expected: plain SGD with the mean of every rank's local gradient
    grads = []
    for r in range(size):
        m = _model(seed=0)
        xr, yr = _batch(r)
        torch.nn.functional.mse_loss(m(xr), yr).backward()
        grads.append([p.grad.clone() for p in m.parameters()])
    for i, ((n, p), q) in enumerate(zip(model.named_parameters(), ref.parameters())):
        mean_g = torch.stack([gr[i] for gr in grads]).mean(0)
        check(f"dist_opt.{n}", p.detach(), q.detach() - lr * mean_g, atol=1e-5)
    # and every rank must hold identical weights afterwards
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    allw = hvd.allgather(flat.unsqueeze(0), name="weights")
    for r in range(size):
        check(f"weights_equal.rank{r}", allw[r], allw[0])

    extra = ""
    # 5. optional: torch.distributed (gloo) side by side with horovod
    if args.torch_dist:
        import torch.distributed as dist
        # explicit name: the default is type(obj).__name__, which differs
        # between root (int) and the others (NoneType) -> collective hangs
        port = hvd.broadcast_object(_free_port() if rank == 0 else None,
                                    root_rank=0, name="smoke_port")
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                                rank=rank, world_size=size)
        td = torch.tensor([rank + 1.0, 10.0 * rank])
        dist.all_reduce(td)
        check("torch.distributed.all_reduce", td, want_sum)
        # horovod still usable after torch.distributed is up
        check("allreduce_after_dist", hvd.allreduce(t, op=hvd.Sum, name="ar2"), want_sum)
        dist.barrier()
        dist.destroy_process_group()
        extra = f" torch.dist_allreduce={td.tolist()}"

    elapsed = time.perf_counter() - t0
    status = "OK" if not errors else "FAIL"
    print(f"[rank {rank}/{size}] {status} allreduce_sum={s.tolist()} "
          f"allgather_shape={tuple(g.shape)} rows_per_rank="
          f"{[int((g[:, 0] == r).sum()) for r in range(size)]} "
          f"bcast_weight0={model.weight.detach()[0, 0].item():.6f} "
          f"loss={loss.item():.6f}{extra} ({elapsed:.2f}s)", flush=True)
    for e in errors:
        print(f"[rank {rank}] ERROR {e}", file=sys.stderr, flush=True)
    hvd.shutdown()
    faulthandler.cancel_dump_traceback_later()
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
