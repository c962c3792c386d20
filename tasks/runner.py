"""What every entry script does around its own work: a distributed session, the demo corpus if the
config asks for it, and one-line errors for bad inputs. Keeps pretrain.py / train_*.py / inf_*.py thin."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import lmdb

from tasks.demo import ensure_demo_corpus
from tasks.setup import SetupError
from utils.checkpointer import ResumeError
from utils.distributed import Distributed, distributed_session, leave_session
from utils.run_lock import RunLockError
from utils.seeding import seed_everything, seed_for_rank
from utils.trainer import Trainer, TrainingJob

Log = Callable[[str], None]


# Failures of a run's inputs and surroundings, reported as one line naming the file / key / record. Anything
# else is a bug and keeps its traceback.
KNOWN_FAILURES = (SetupError, ResumeError, RunLockError, ValueError, OSError, lmdb.Error)


def add_resume_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-config-change", action="store_true",
                        help="resume even though the config differs from the saved run's")
    parser.add_argument("--overwrite", action="store_true",
                        help="start again in an output_dir that holds a run (its checkpoints are replaced)")


def one_line(error: BaseException) -> str:
    """The error's message on one line; for an error re-raised from a DataLoader worker (whose message is the
    worker's whole traceback) its original last line."""
    text = str(error).strip() or type(error).__name__
    if "Original Traceback" in text:
        last = text.splitlines()[-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return " ".join(text.split())


def run_session(cfg: Any, action: Callable[[Distributed, Log], None]) -> int:
    """Run ``action(dist, log)`` inside the configured backend; ``log`` prints on rank 0 only.

    The error boundary of every entry script: a known failure ends the process with ``error: <one line>``
    and a non-zero status."""
    try:
        with distributed_session(cfg.backend) as dist:
            log: Log = print if dist.is_main else (lambda _message: None)
            ensure_demo_corpus(getattr(cfg, "demo_corpus", None), dist, log)
            action(dist, log)
    except KNOWN_FAILURES as error:
        sys.exit(f"error: {one_line(error)}")
    return leave_session(dist, 0)  # a multi-process run ends here (exit 0), see leave_session


def training(cfg: Any, build_job: Callable[[Any, Distributed, Log], TrainingJob],
             args: argparse.Namespace) -> Callable[[Distributed, Log], None]:
    """The action of a training script: build the job, seed per rank, run the shared Trainer
    (``args``: the flags of :func:`add_resume_flag`)."""
    def action(dist: Distributed, log: Log) -> None:
        job = build_job(cfg, dist, log)
        seed_everything(seed_for_rank(cfg.seed, dist.rank))
        Trainer(cfg, job, dist, args.allow_config_change, args.overwrite).train()
    return action
