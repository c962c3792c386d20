"""VCMR fine-tuning (TVR, How2R) as a :class:`TrainingJob` (hero-reference.md §4.1).

One stream of (query + its video) batches, the VSM losses over the gathered batch with the
span-drop / hard-negative schedule, and, every ``valid_steps``, the full corpus inference of
``inf_vcmr.py`` on the val split. The best model is the one with the highest
``VCMR_0.7-rsum`` = VCMR R@1 + R@5 + R@10 + R@100 at IoU 0.7: the paper's headline IoU, summed over
the recall cut-offs because a single R@1 is too noisy on small val sets to pick a checkpoint.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from config.schema import VcmrConfig, VsmConfig
from data.dbs.corpus import VideoCorpus
from data.dbs.query_db import QueryDb
from data.loading.meta_loader import MetaLoader, TaskStream
from data.loading.retrieval_datasets import QuerySource, VcmrDataset
from evaluation.tvr_metrics import write_predictions
from evaluation.vcmr_inference import run_vcmr_inference
from model.heads.retrieval import identity_gather
from model.vcmr import HeroForVcmr
from tasks.loss_schedule import retrieval_weights
from tasks.setup import SetupError, build_model_config, describe, initialise_weights, model_config_dict
from utils.distributed import Distributed
from utils.trainer import TrainingJob, unwrap

BEST_METRIC = ("vcmr", "VCMR_0.7-rsum")


def open_corpus(cfg: VcmrConfig | VsmConfig) -> VideoCorpus:
    """The clips of the task (subtitle db + video db), checked against the config."""
    for path, what in ((cfg.sub_txt_db, "sub_txt_db"), (cfg.vfeat_db, "vfeat_db")):
        if not path or not Path(path).is_dir():
            raise SetupError(f"{what} not found: {path!r}")
    try:
        corpus = VideoCorpus(cfg.sub_txt_db, cfg.vfeat_db, cfg.max_clip_len, cfg.sub_ctx_len, cfg.max_txt_len)
    except ValueError as error:
        raise SetupError(str(error)) from error
    if not math.isclose(corpus.frame_interval, cfg.vfeat_interval):
        raise SetupError(f"vfeat_interval is {cfg.vfeat_interval} s but {cfg.vfeat_db} has "
                         f"{corpus.frame_interval} s per frame")
    return corpus


def open_query_db(path: str | None, what: str) -> QueryDb:
    if not path or not Path(path).is_dir():
        raise SetupError(f"{what} not found: {path!r}")
    db = QueryDb(path)
    if db.is_qa:
        raise SetupError(f"{what} {path} is a QA db; VCMR needs a retrieval (TVR / How2R) query db")
    return db


def build_vcmr_model(cfg: VcmrConfig | VsmConfig, corpus: VideoCorpus, dist: Distributed,
                     log: Callable[[str], None]) -> HeroForVcmr:
    """HeroForVcmr from ``cfg.checkpoint`` (project, reference or pre-training weights)."""
    model_config = build_model_config(cfg, corpus.feature_dim, corpus.token_ids.vocab_size)
    torch.manual_seed(cfg.seed)  # identical initial weights of new heads on every rank
    model = HeroForVcmr(model_config, cfg.retrieval_loss(), gather=dist.all_gather_with_grad)
    initialise_weights(model, cfg, log)
    model.to(dist.device)
    log(describe(model, model_config))
    return model


def build_vcmr_job(cfg: VcmrConfig, dist: Distributed, log: Callable[[str], None]) -> TrainingJob:
    """Everything VCMR fine-tuning needs, validated before the first step."""
    corpus = open_corpus(cfg)
    train_db = open_query_db(cfg.train_query_txt_db, "train_query_txt_db")
    val_db = open_query_db(cfg.val_query_txt_db, "val_query_txt_db") if cfg.val_query_txt_db else None
    try:
        train_set = VcmrDataset(corpus, train_db, cfg.max_txt_len, training=True, seed=cfg.seed)
        stream = TaskStream(train_set, cfg.train_batch_size, rank=dist.rank, world_size=dist.world_size,
                            seed=cfg.seed, num_workers=cfg.n_workers, pin_memory=cfg.pin_mem)
    except ValueError as error:
        raise SetupError(f"train_query_txt_db: {error}") from error
    log(f"{cfg.task}: {len(train_set)} training queries (dropped {train_set.dropped}), "
        f"{len(corpus)} videos")
    model = build_vcmr_model(cfg, corpus, dist, log)
    validate = None
    if val_db is not None:
        def validate(m: nn.Module, step: int) -> dict[str, dict[str, float]]:
            return validate_vcmr(m, corpus, val_db, cfg, dist, step)
    return retrieval_training_job(model, cfg.task, stream, cfg, validate, BEST_METRIC)


def retrieval_training_job(model: HeroForVcmr, task: str, stream: TaskStream, cfg: VcmrConfig | VsmConfig,
                           validate: Callable[[nn.Module, int], dict] | None,
                           best_metric: tuple[str, str]) -> TrainingJob:
    """The job VCMR fine-tuning and VSM adaptation share: one stream of retrieval batches, the VSM losses
    under the configured span-drop / hard-negative schedule, best model by ``best_metric`` when validated."""
    return TrainingJob(
        model=model, model_config=model_config_dict(model.config),
        batches=MetaLoader({task: stream}, {task: 1}, cfg.gradient_accumulation_steps, cfg.seed),
        forward=lambda m, _task, batch, step: m(batch, retrieval_weights(step, cfg, cfg.seed)),
        scalars=training_scalars, validate=validate, best_metric=best_metric if validate is not None else None)


def training_scalars(task: str, output: Any) -> dict[str, float]:
    return {"loss": output.loss.item(), "span": output.loss_span.item(),
            "neg_ctx": output.loss_neg_ctx.item(), "neg_q": output.loss_neg_q.item()}


def flat_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """``{"VCMR_0.7-r1": …, "SVMR_…", "VR_r1", "VCMR_0.7-rsum"}`` for the logger / best-model choice."""
    flat = {f"{task}_{name}": float(value) for task in ("VCMR", "SVMR", "VR")
            for name, value in metrics.get(task, {}).items()}
    flat["VCMR_0.7-rsum"] = sum(flat.get(f"VCMR_0.7-r{k}", 0.0) for k in (1, 5, 10, 100))
    return flat


def validate_vcmr(model: nn.Module, corpus: VideoCorpus, db: QueryDb | QuerySource, cfg: VcmrConfig | VsmConfig,
                  dist: Distributed, step: int) -> dict[str, dict[str, float]]:
    """Full-corpus inference on val; predictions saved to ``output_dir/results/val_results_{step}.json``."""
    net = unwrap(model)
    previous_gather, net.gather = net.gather, identity_gather  # inference never gathers in the model
    try:
        predictions, metrics = run_vcmr_inference(net, corpus, db, cfg, dist)
    finally:
        net.gather = previous_gather
    if dist.is_main:
        write_predictions(Path(cfg.output_dir) / "results" / f"val_results_{step}.json",
                          predictions["video2idx"], predictions)
    return {"vcmr": flat_metrics(metrics or {})}
