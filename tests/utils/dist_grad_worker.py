"""Worker for tests/utils/test_distributed.py: run under torchrun or horovodrun.

Each rank takes its share of a fixed batch of clips, runs VSM (ranking over gathered negatives) and
MLM on the DDP/Horovod-wrapped tiny model, and rank 0 saves the synchronised gradients.
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from tests.utils.grad_batches import NUM_CLIPS, batches_for, build_model  # noqa: E402
from utils.distributed import distributed_session, leave_session  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args()
    with distributed_session(args.backend) as dist:
        model = build_model(gather=dist.all_gather_with_grad)
        wrapped = dist.wrap_model(model)
        share = NUM_CLIPS // dist.world_size
        clips = list(range(dist.rank * share, (dist.rank + 1) * share))
        grads = {}
        for name, batch in batches_for(clips).items():
            model.zero_grad(set_to_none=True)
            output = wrapped(batch)
            output.loss.backward()
            dist.synchronize_gradients(wrapped)
            grads[name] = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
            grads[name + "_loss"] = dist.all_reduce_sum(output.loss.detach()) / dist.world_size
        if dist.is_main:
            torch.save(grads, args.out)
    leave_session(dist)


if __name__ == "__main__":
    main()
