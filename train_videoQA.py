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

import json
import sys
from pathlib import Path

from config.cli import exit_on_config_error, parse_cli
from config.schema import VideoQaConfig
from evaluation.qa_eval import evaluate_qa
from tasks.runner import add_resume_flag, run_session, training
from tasks.video_qa import build_corpus, build_qa_model, build_split, build_videoqa_job
from utils.distributed import Distributed


def add_flags(parser) -> None:
    parser.add_argument("--eval-only", action="store_true",
                        help="evaluate --checkpoint on --split and write predictions; no training")
    parser.add_argument("--split", choices=["val", "test"], default="val", help="split to evaluate")
    add_resume_flag(parser)


def evaluate(cfg: VideoQaConfig, split: str, dist: Distributed, log) -> None:
    """Predict one split with the model of ``cfg.checkpoint``; rank 0 writes the files."""
    corpus = build_corpus(cfg)
    dataset = build_split(cfg, corpus, split, log)
    model = build_qa_model(cfg, corpus, dist, log, require_heads=True)
    result = evaluate_qa(model, dataset, cfg.val_batch_size, dist, cfg.precision)
    if not dist.is_main:
        return
    out_dir = Path(cfg.output_dir) / f"results_{split}"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "predictions.json").write_text(json.dumps(result.predictions))
    (out_dir / "predictions_spans.json").write_text(json.dumps(result.spans))
    log(f"{len(result.predictions)} predictions written to {out_dir}")
    if result.metrics:
        (out_dir / "metrics.json").write_text(json.dumps(result.metrics, indent=2))
        temporal = result.metrics.get("temporal", {})
        log(f"{split}: accuracy {100 * result.metrics['accuracy']:.2f} % over {result.metrics['count']}"
            + (f"; temporal mean IoU {temporal['mean_iou']:.4f}, IoU>=0.5 {100 * temporal['iou_ge_0.5']:.2f} %"
               if temporal else ""))


def main() -> int:
    with exit_on_config_error():
        cfg, args = parse_cli(VideoQaConfig, description=__doc__, add_arguments=add_flags)
    if args.eval_only:
        return run_session(cfg, lambda dist, log: evaluate(cfg, args.split, dist, log))
    return run_session(cfg, training(cfg, build_videoqa_job, args.allow_config_change))


if __name__ == "__main__":
    sys.exit(main())
