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
from tasks.pretrain import build_pretrain_job
from tasks.runner import add_resume_flag, run_session, training


def main() -> int:
    with exit_on_config_error():
        cfg, args = parse_cli(PretrainConfig, description=__doc__, add_arguments=add_resume_flag)
    return run_session(cfg, training(cfg, build_pretrain_job, args))


if __name__ == "__main__":
    sys.exit(main())
