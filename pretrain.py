#!/usr/bin/env python
"""HERO pre-training: MLM, MFM-NCE, MFFR, FOM and VSM mixed by ratio, from a JSON config.

    python pretrain.py --config config/pretrain-demo.json [--key value ...]
    torchrun --nproc_per_node 8 pretrain.py --config config/pretrain-tv-16gpu.json
    horovodrun -np 8 python pretrain.py --config config/pretrain-tv-16gpu.json

Re-running the same command resumes from output_dir's latest training state.
"""
from __future__ import annotations

import sys

from config.cli import exit_on_config_error, parse_cli
from config.schema import PretrainConfig
from utils.checkpointer import ResumeError, seed_everything
from utils.demo import ensure_demo_corpus
from utils.distributed import distributed_session
from utils.pretrain_job import build_pretrain_job
from utils.run_setup import SetupError, seed_for_rank
from utils.trainer import Trainer


def add_flags(parser) -> None:
    parser.add_argument("--allow-config-change", action="store_true",
                        help="resume even though the config differs from the saved run's")


def main() -> int:
    with exit_on_config_error():
        cfg, args = parse_cli(PretrainConfig, description=__doc__, add_arguments=add_flags)
    with distributed_session(cfg.backend) as dist:
        log = print if dist.is_main else (lambda _message: None)
        try:
            ensure_demo_corpus(cfg.demo_corpus, dist, log)
            job = build_pretrain_job(cfg, dist, log)
            seed_everything(seed_for_rank(cfg.seed, dist))
            trainer = Trainer(cfg, job, dist, args.allow_config_change)
        except (SetupError, ResumeError) as error:
            sys.exit(f"error: {error}")
        trainer.train()
    return 0


if __name__ == "__main__":
    sys.exit(main())
