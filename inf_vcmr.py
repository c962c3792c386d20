#!/usr/bin/env python
"""VCMR / SVMR / VR inference of a checkpoint over a whole corpus, in the official TVR format.

    python inf_vcmr.py --config config/train-tvr-demo.json --checkpoint output/tvr-demo/ckpt/model_best.pt \
        --split val --output_dir output/tvr-demo
    torchrun --nproc_per_node 8 inf_vcmr.py --config config/train-tvr-8gpu.json --checkpoint P \
        --split test_public --output_dir D --test_query_txt_db /txt/tvr_test_public.db

Writes D/results_<split>/predictions.json ({"video2idx", "VCMR", "SVMR", "VR"}) and, when the split
has labels, D/results_<split>/metrics.json. Decoding options (q2c_alpha, NMS, span band, …) come from
the config and can be overridden with --key value.

Free-text search instead (--query TEXT, repeatable, or --queries FILE, one per line): the top --top-k moments
of each query are printed and written to D/results_search/moments.jsonl (corpus cached in D/corpus_embeddings.pt).

The reference's command line works too (options from the run's log/hps.json, tasks/reference_run.py):

    python inf_vcmr.py --query_txt_db TXT/tvr_val.db --split val --vfeat_db VIDEO/tv \
        --sub_txt_db TXT/tv_subtitles.db --output_dir FINETUNE/tvr_default --checkpoint 4800 --fp16
"""
from __future__ import annotations

import sys

from config.cli import exit_on_config_error, parse_cli
from config.schema import VcmrConfig
from tasks.reference_run import reference_command_line
from tasks.runner import run_session
from tasks.vcmr import SPLIT_OPTIONS, evaluate_vcmr
from tasks.vcmr_search import add_search_flags, search_vcmr, wants_search


def add_flags(parser) -> None:
    parser.add_argument("--split", choices=("val", "test_public"), default="val",
                        help="query db: val_query_txt_db or test_query_txt_db")
    # `checkpoint` and `output_dir` are config options too: these flags set them.
    add_search_flags(parser)


def main() -> int:
    with exit_on_config_error():
        argv = reference_command_line(sys.argv[1:], VcmrConfig, SPLIT_OPTIONS, "vcmr_eval_q_batch_size")
        cfg, args = parse_cli(VcmrConfig, argv, description=__doc__, add_arguments=add_flags)
    if wants_search(args):
        return run_session(cfg, lambda dist, log: search_vcmr(cfg, args.query, args.queries, args.top_k, dist, log))
    return run_session(cfg, lambda dist, log: evaluate_vcmr(cfg, args.split, dist, log))


if __name__ == "__main__":
    sys.exit(main())
