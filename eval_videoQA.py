#!/usr/bin/env python
"""Evaluate a TVQA / How2QA checkpoint on one split, with the reference's command line:

    python eval_videoQA.py --query_txt_db TXT/tvqa_val.db --split val --vfeat_db VIDEO/tv \\
        --sub_txt_db TXT/tv_subtitles.db --output_dir FINETUNE/tvqa_default --checkpoint 6000 --fp16

The model and task options come from the fine-tuning run's log/hps.json (tasks/reference_run.py);
--checkpoint N is <output_dir>/ckpt/model_step_N.pt. A --config FILE.json works as in
`train_videoQA.py --eval-only`. Writes <output_dir>/results_<split>/predictions.json ({qid: answer_idx}),
predictions_spans.json and, when the split has answer labels, metrics.json.
"""
from __future__ import annotations

import sys

from config.cli import exit_on_config_error, parse_cli
from config.schema import VideoQaConfig
from tasks.reference_run import reference_command_line
from tasks.runner import run_session
from tasks.video_qa import EVAL_SPLITS, evaluate_videoqa


def add_flags(parser) -> None:
    parser.add_argument("--split", choices=list(EVAL_SPLITS), default="val", help="split to evaluate")


def main() -> int:
    with exit_on_config_error():
        argv = reference_command_line(sys.argv[1:], VideoQaConfig, EVAL_SPLITS, "val_batch_size")
        cfg, args = parse_cli(VideoQaConfig, argv, description=__doc__, add_arguments=add_flags)
    return run_session(cfg, lambda dist, log: evaluate_videoqa(cfg, args.split, dist, log))


if __name__ == "__main__":
    sys.exit(main())
