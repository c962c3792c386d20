"""Adapting HERO to a new corpus of videos with subtitles (``train_vsm.py``) as a :class:`TrainingJob`.

A seeded share of each video's subtitles is held out (:mod:`data.loading.subtitle_queries`) and hidden from every
input, in training and in evaluation. The model is :class:`HeroForVcmr` (the backbone + query encoder +
span head that VSM pre-training trains as well), trained with the VSM losses alone (§2.6) on the
visible subtitles — ``query_per_video`` per video, the span-drop / hard-negative schedule of the config.
Every ``valid_steps`` the held-out subtitles are retrieved over the whole corpus by the VCMR inference
of ``inf_vcmr.py``; the best model is the one with the highest ``VCMR_0.7-rsum``, as for VCMR.
"""
from __future__ import annotations

from collections.abc import Callable

from torch import nn

from config.loader import section
from config.schema import MomentEvalOptions, VsmConfig
from data.dbs.corpus import VideoCorpus
from data.loading.meta_loader import TaskStream
from data.loading.pretrain_datasets import VsmDataset
from data.loading.subtitle_queries import HeldoutSubtitleQueries, select_heldout_subtitles
from evaluation.results import results_dir, write_ground_truth, write_moment_results, write_source
from evaluation.vcmr_inference import run_vcmr_inference
from tasks.data_report import DataReport
from tasks.setup import SetupError
from tasks.vcmr import build_vcmr_model, open_task_corpus, retrieval_training_job, validate_vcmr
from utils.distributed import Distributed
from utils.precision import inference_precision
from utils.trainer import TrainingJob

Log = Callable[[str], None]
BEST_METRIC = ("vsm", "VCMR_0.7-rsum")


def open_vsm_corpus(cfg: VsmConfig, log: Log) -> tuple[VideoCorpus, HeldoutSubtitleQueries | None]:
    """The corpus with its held-out subtitles hidden, and those subtitles as queries (None: none held out)."""
    base = open_task_corpus(cfg)
    heldout = select_heldout_subtitles(base, cfg.heldout_subtitle_ratio, cfg.heldout_seed)
    corpus = base.with_hidden_subtitles(heldout)
    if not heldout:
        return corpus, None
    try:
        queries = HeldoutSubtitleQueries(corpus, heldout, cfg.max_eval_queries, cfg.heldout_seed)
    except ValueError as error:
        raise SetupError(f"sub_txt_db {cfg.sub_txt_db}: {error}") from error
    total = int(base.subtitle_stats()["subs"].sum())
    log(f"held out {sum(map(len, heldout.values()))} of {total} subtitles in {len(heldout)} of {len(base)} "
        f"videos (heldout_subtitle_ratio {cfg.heldout_subtitle_ratio}); {len(queries)} evaluation queries")
    return corpus, queries


def build_vsm_job(cfg: VsmConfig, dist: Distributed, log: Log) -> TrainingJob:
    """Everything VSM adaptation needs, validated before the first step."""
    corpus, queries = open_vsm_corpus(cfg, log)
    try:
        # Subtitles are not cut to max_txt_len: the evaluation encodes the corpus as VCMR does.
        train_set = VsmDataset(corpus, query_per_video=cfg.query_per_video, seed=cfg.seed, truncate_text=False)
        stream = TaskStream(train_set, cfg.train_batch_size, rank=dist.rank, world_size=dist.world_size,
                            seed=cfg.seed, num_workers=cfg.n_workers, pin_memory=cfg.pin_mem)
    except ValueError as error:
        raise SetupError(f"sub_txt_db {cfg.sub_txt_db}: {error}") from error
    report = DataReport()
    report.corpus("vsm", corpus)
    report.dataset("vsm training videos", train_set)
    report.log(log)
    report.check(cfg.max_dropped_share)
    log(f"vsm: {cfg.query_per_video} training queries per video")
    model = build_vcmr_model(cfg, corpus, dist, log)
    validate = None
    if queries is not None:
        precision = inference_precision(cfg.precision, dist.device, log)

        def validate(m: nn.Module, step: int) -> dict[str, dict[str, float]]:
            return {"vsm": validate_vcmr(m, corpus, queries, cfg, dist, step, precision)["vcmr"]}
    else:
        log("warning: no subtitle is held out (heldout_subtitle_ratio 0 or too few subtitles): no validation")
    return retrieval_training_job(model, "vsm", stream, cfg, validate, BEST_METRIC, report)


def evaluate_vsm(cfg: VsmConfig, dist: Distributed, log: Log) -> None:
    """``train_vsm.py --eval-only``: retrieve the held-out subtitles with ``cfg.checkpoint``; rank 0 writes
    ``output_dir/results_val/predictions.json`` (official TVR format) and ``metrics.json``."""
    if not cfg.checkpoint:  # useful as the chance baseline
        log("warning: no --checkpoint: evaluating randomly initialised weights")
    corpus, queries = open_vsm_corpus(cfg, log)
    if queries is None:
        raise SetupError(f"no subtitle of {cfg.sub_txt_db} is held out (heldout_subtitle_ratio "
                         f"{cfg.heldout_subtitle_ratio}): nothing to evaluate")
    model = build_vcmr_model(cfg, corpus, dist, log)
    precision = inference_precision(cfg.precision, dist.device, log)
    predictions, metrics = run_vcmr_inference(model, corpus, queries, section(cfg, MomentEvalOptions), dist, log,
                                              precision)
    if dist.is_main:
        out = results_dir(cfg.output_dir, "val")
        write_moment_results(out, predictions, metrics, log)
        truth = [{key: queries.record(i).get(key) for key in ("desc_id", "desc", "vid_name", "ts")}
                 for i in range(len(queries))]
        write_source(out, query_records=write_ground_truth(out, truth), sub_txt_db=cfg.sub_txt_db,
                     vfeat_db=cfg.vfeat_db, checkpoint=cfg.checkpoint)
