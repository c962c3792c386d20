#!/usr/bin/env python
"""Adapt HERO to a new corpus of videos with subtitles: fine-tune (or continue pre-training) with the VSM
objective alone, and evaluate subtitle → moment retrieval on held-out subtitles.

    python train_vsm.py --config config/train-vsm-demo.json [--key value ...]
    torchrun --nproc_per_node 8 train_vsm.py --config config/train-vsm-tv.json
    python train_vsm.py --config CFG --eval-only --checkpoint CKPT [--output_dir D]

A seeded share (heldout_subtitle_ratio) of each video's subtitles is hidden from every input and used
only as evaluation queries, scored like TVR (VCMR / SVMR / VR, R@{1,5,10,100} at IoU 0.5 / 0.7) every
valid_steps; the best model (VCMR R@K sum at IoU 0.7) is kept as ckpt/model_best.pt. Re-running the same
command resumes. --eval-only writes <output_dir>/results_val/predictions.json (official TVR format) and
metrics.json. --query TEXT (repeatable) / --queries FILE search the corpus by free text instead
(as inf_vcmr.py: printed and written to <output_dir>/results_search/moments.jsonl).
"""
from __future__ import annotations

import sys

from config.cli import exit_on_config_error, parse_cli
from config.schema import VsmConfig
from tasks.runner import add_resume_flag, run_session, training
from tasks.vcmr_search import add_search_flags, search_vcmr, wants_search
from tasks.vsm import build_vsm_job, evaluate_vsm


def add_flags(parser) -> None:
    parser.add_argument("--eval-only", action="store_true",
                        help="evaluate `checkpoint` on the held-out subtitles and write predictions; no training")
    add_resume_flag(parser)
    add_search_flags(parser)  # --query / --queries: search the corpus with `checkpoint` instead of training
    # `checkpoint` and `output_dir` are config options: --checkpoint P / --output_dir D set them.


def main() -> int:
    with exit_on_config_error():
        cfg, args = parse_cli(VsmConfig, description=__doc__, add_arguments=add_flags)
    if wants_search(args):
        return run_session(cfg, lambda dist, log: search_vcmr(cfg, args.query, args.queries, args.top_k, dist, log))
    if args.eval_only:
        return run_session(cfg, lambda dist, log: evaluate_vsm(cfg, dist, log))
    return run_session(cfg, training(cfg, build_vsm_job, args))


if __name__ == "__main__":
    sys.exit(main())
