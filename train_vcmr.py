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
from tasks.runner import add_resume_flag, run_session, training
from tasks.vcmr import build_vcmr_job


def main() -> int:
    with exit_on_config_error():
        cfg, args = parse_cli(VcmrConfig, description=__doc__, add_arguments=add_resume_flag)
    return run_session(cfg, training(cfg, build_vcmr_job, args))


if __name__ == "__main__":
    sys.exit(main())
