#!/usr/bin/env python
"""HERO fine-tuning for video corpus moment retrieval (TVR, How2R), from a JSON config.

    python train_vcmr.py --config config/train-tvr-demo.json [--key value ...]
    torchrun --nproc_per_node 8 train_vcmr.py --config config/train-tvr-8gpu.json

Every ``valid_steps`` the model is evaluated on the whole val corpus (VCMR / SVMR / VR); the best
one (VCMR R@{1,5,10,100} sum at IoU 0.7) is kept as ckpt/model_best.pt. Re-running the same command
resumes from output_dir's latest training state.
"""
from __future__ import annotations

import sys

from config.cli import exit_on_config_error, parse_cli
from config.schema import VcmrConfig
from utils.checkpointer import ResumeError, seed_everything
from utils.demo import ensure_demo_corpus
from utils.distributed import distributed_session
from utils.run_setup import SetupError, seed_for_rank
from utils.trainer import Trainer
from utils.vcmr_job import build_vcmr_job


def add_flags(parser) -> None:
    parser.add_argument("--allow-config-change", action="store_true",
                        help="resume even though the config differs from the saved run's")


def main() -> int:
    with exit_on_config_error():
        cfg, args = parse_cli(VcmrConfig, description=__doc__, add_arguments=add_flags)
    with distributed_session(cfg.backend) as dist:
        log = print if dist.is_main else (lambda _message: None)
        try:
            ensure_demo_corpus(cfg.demo_corpus, dist, log)
            job = build_vcmr_job(cfg, dist, log)
            seed_everything(seed_for_rank(cfg.seed, dist))
            trainer = Trainer(cfg, job, dist, args.allow_config_change)
        except (SetupError, ResumeError) as error:
            sys.exit(f"error: {error}")
        trainer.train()
    return 0


if __name__ == "__main__":
    sys.exit(main())
