"""What every entry script does around its own work: a distributed session, the demo corpus if the
config asks for it, and one-line errors for bad inputs. Keeps pretrain.py / train_*.py / inf_*.py thin."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from tasks.demo import ensure_demo_corpus
from tasks.setup import SetupError
from utils.checkpointer import ResumeError
from utils.distributed import Distributed, distributed_session, leave_session
from utils.seeding import seed_everything, seed_for_rank
from utils.trainer import Trainer, TrainingJob

Log = Callable[[str], None]


def add_resume_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-config-change", action="store_true",
                        help="resume even though the config differs from the saved run's")


def run_session(cfg: Any, action: Callable[[Distributed, Log], None]) -> int:
    """Run ``action(dist, log)`` inside the configured backend; ``log`` prints on rank 0 only."""
    with distributed_session(cfg.backend) as dist:
        log: Log = print if dist.is_main else (lambda _message: None)
        try:
            ensure_demo_corpus(getattr(cfg, "demo_corpus", None), dist, log)
            action(dist, log)
        except (SetupError, ResumeError, ValueError) as error:
            sys.exit(f"error: {error}")
    return leave_session(dist, 0)  # a multi-process run ends here (exit 0), see leave_session


def training(cfg: Any, build_job: Callable[[Any, Distributed, Log], TrainingJob],
             allow_config_change: bool) -> Callable[[Distributed, Log], None]:
    """The action of a training script: build the job, seed per rank, run the shared Trainer."""
    def action(dist: Distributed, log: Log) -> None:
        job = build_job(cfg, dist, log)
        seed_everything(seed_for_rank(cfg.seed, dist.rank))
        Trainer(cfg, job, dist, allow_config_change).train()
    return action
