#!/usr/bin/env python
"""HERO Video QA fine-tuning (TVQA, How2QA) with temporal localisation, from a JSON config.

    python train_videoQA.py --config config/train-tvqa-demo.json [--key value ...]
    torchrun --nproc_per_node 8 train_videoQA.py --config config/train-tvqa-8gpu.json
    python train_videoQA.py --config CFG --eval-only --checkpoint CKPT --split val|test

Training keeps ckpt/model_best.pt (best validation accuracy) and resumes from output_dir's latest
training state. --eval-only writes <output_dir>/results_<split>/predictions.json ({qid: answer_idx}),
predictions_spans.json ({qid: [st, ed] seconds}) and, when the split has labels, metrics.json.
"""
from __future__ import annotations

import sys

from config.cli import exit_on_config_error, parse_cli
from config.schema import VideoQaConfig
from tasks.runner import add_resume_flag, run_session, training
from tasks.video_qa import build_videoqa_job, evaluate_videoqa


def add_flags(parser) -> None:
    parser.add_argument("--eval-only", action="store_true",
                        help="evaluate --checkpoint on --split and write predictions; no training")
    parser.add_argument("--split", choices=["val", "test"], default="val", help="split to evaluate")
    add_resume_flag(parser)


def main() -> int:
    with exit_on_config_error():
        cfg, args = parse_cli(VideoQaConfig, description=__doc__, add_arguments=add_flags)
    if args.eval_only:
        return run_session(cfg, lambda dist, log: evaluate_videoqa(cfg, args.split, dist, log))
    return run_session(cfg, training(cfg, build_videoqa_job, args))


if __name__ == "__main__":
    sys.exit(main())
