#!/usr/bin/env python
"""VCMR / SVMR / VR inference of a checkpoint over a whole corpus, in the official TVR format.

    python inf_vcmr.py --config config/train-tvr-demo.json --checkpoint output/tvr-demo/ckpt/model_best.pt \
        --split val --output_dir output/tvr-demo
    torchrun --nproc_per_node 8 inf_vcmr.py --config config/train-tvr-8gpu.json --checkpoint P \
        --split test_public --output_dir D --test_query_txt_db /txt/tvr_test_public.db

Writes D/results_<split>/predictions.json ({"video2idx", "VCMR", "SVMR", "VR"}) and, when the split
has labels, D/results_<split>/metrics.json. Decoding options (q2c_alpha, NMS, span band, …) come from
the config and can be overridden with --key value.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from config.cli import exit_on_config_error, parse_cli
from config.schema import VcmrConfig
from evaluation.tvr_metrics import write_predictions
from evaluation.vcmr_inference import run_vcmr_inference
from tasks.runner import run_session
from tasks.vcmr import build_vcmr_model, open_corpus, open_query_db


def add_flags(parser) -> None:
    parser.add_argument("--split", choices=("val", "test_public"), default="val",
                        help="query db: val_query_txt_db or test_query_txt_db")
    # `checkpoint` and `output_dir` are config options too: these flags set them.


def infer(cfg: VcmrConfig, split: str, dist, log) -> None:
    """Score the split's queries against the whole corpus; rank 0 writes predictions and metrics."""
    if not cfg.checkpoint:  # useful as the chance baseline of a task
        log("warning: no --checkpoint: evaluating randomly initialised weights")
    corpus = open_corpus(cfg)
    option = "val_query_txt_db" if split == "val" else "test_query_txt_db"
    db = open_query_db(getattr(cfg, option), option)
    model = build_vcmr_model(cfg, corpus, dist, log)
    predictions, metrics = run_vcmr_inference(model, corpus, db, cfg, dist, log)
    if dist.is_main:
        out = Path(cfg.output_dir) / f"results_{split}"
        write_predictions(out / "predictions.json", predictions["video2idx"], predictions)
        log(f"wrote {out / 'predictions.json'} ({len(predictions.get('VR', []))} queries)")
        if metrics is not None:
            (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
            log(json.dumps({task: metrics[task] for task in ("VCMR", "SVMR", "VR") if task in metrics}))


def main() -> int:
    with exit_on_config_error():
        cfg, args = parse_cli(VcmrConfig, description=__doc__, add_arguments=add_flags)
    return run_session(cfg, lambda dist, log: infer(cfg, args.split, dist, log))


if __name__ == "__main__":
    sys.exit(main())
