"""Video QA fine-tuning (TVQA, How2QA) as a :class:`TrainingJob` (hero-reference.md §4.3).

The clips (subtitle db + feature db) form one :class:`VideoCorpus`; each split's question db becomes a
:class:`VideoQaDataset`. Training streams the train split; validation runs :func:`evaluate_qa` on the
val split over all ranks, and the validation accuracy picks ``ckpt/model_best.pt``.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from config.schema import VideoQaConfig
from data.dbs.corpus import VideoCorpus
from data.loading.meta_loader import MetaLoader, TaskStream
from data.loading.qa_datasets import VideoQaDataset
from evaluation.qa_eval import evaluate_qa
from model.video_qa import HeroForVideoQA
from pretrained.checkpoint_file import CheckpointError, read_weights
from pretrained.state_loading import WeightLoadError, load_state_into
from tasks.setup import SetupError, build_model_config, describe, initialise_weights, model_config_dict
from utils.distributed import Distributed
from utils.trainer import TrainingJob

SPLIT_OPTIONS = {"train": "train_query_txt_db", "val": "val_query_txt_db", "test": "test_query_txt_db"}


def _existing_dir(path: str | None, option: str) -> str:
    if not path:
        raise SetupError(f"{option} is not set")
    if not Path(path).is_dir():
        raise SetupError(f"{option}: db not found: {path}")
    return path


def build_corpus(cfg: VideoQaConfig) -> VideoCorpus:
    """The task's clips; missing dbs are one-line :class:`SetupError`\\ s."""
    sub_db = _existing_dir(cfg.sub_txt_db, "sub_txt_db")
    video_db = _existing_dir(cfg.vfeat_db, "vfeat_db")
    try:
        return VideoCorpus(sub_db, video_db, cfg.max_clip_len, cfg.sub_ctx_len, cfg.max_txt_len)
    except ValueError as error:
        raise SetupError(f"{sub_db} + {video_db}: {error}") from error


def build_split(cfg: VideoQaConfig, corpus: VideoCorpus, split: str, log: Callable[[str], None]
                ) -> VideoQaDataset:
    """The questions of ``split`` (train / val / test) whose clip is in the corpus.

    Only training drops questions longer than ``max_txt_len`` (the reference rule); evaluation keeps
    every question so the prediction file covers the whole split.
    """
    option = SPLIT_OPTIONS[split]
    path = _existing_dir(getattr(cfg, option), option)
    try:
        dataset = VideoQaDataset(corpus, path, cfg.max_txt_len, training=split == "train", seed=cfg.seed)
    except ValueError as error:
        raise SetupError(f"{option}: {error}") from error
    dropped = {k: v for k, v in dataset.dropped.items() if v}
    log(f"{split}: {len(dataset)} questions, {dataset.num_answers} answers each, from {path}"
        + (f" (dropped {dropped})" if dropped else ""))
    return dataset


def build_qa_model(cfg: VideoQaConfig, corpus: VideoCorpus, dist: Distributed, log: Callable[[str], None],
                   require_heads: bool = False) -> HeroForVideoQA:
    """HeroForVideoQA from ``cfg.checkpoint`` (pre-training, reference HERO or fine-tuned weights).

    With ``require_heads`` (evaluation) the checkpoint must hold the QA heads: evaluating freshly
    initialised heads would silently report chance-level numbers.
    """
    model_config = build_model_config(cfg, corpus.feature_dim, corpus.token_ids.vocab_size)
    torch.manual_seed(cfg.seed)  # identical initial weights (new heads) on every rank
    model = HeroForVideoQA(model_config, cfg.lw_st_ed)
    if require_heads:
        if not cfg.checkpoint:
            raise SetupError("evaluation needs --checkpoint (a fine-tuned Video QA checkpoint)")
        try:
            report = load_state_into(model, read_weights(cfg.checkpoint).state_dict, source=cfg.checkpoint,
                                     allow_new_heads=False)
        except (CheckpointError, WeightLoadError) as error:
            raise SetupError(f"{error} (evaluation needs a fine-tuned Video QA checkpoint)") from error
        log(f"weights from {cfg.checkpoint}; {report.summary()}")
    else:
        initialise_weights(model, cfg, log)
    model.to(dist.device)
    log(describe(model, model_config))
    return model


def build_videoqa_job(cfg: VideoQaConfig, dist: Distributed, log: Callable[[str], None]) -> TrainingJob:
    """Everything Video QA fine-tuning needs, validated before the first step."""
    corpus = build_corpus(cfg)
    train_set = build_split(cfg, corpus, "train", log)
    val_set = build_split(cfg, corpus, "val", log) if cfg.val_query_txt_db else None
    if val_set is not None and not val_set.db.has_labels:
        raise SetupError(f"val_query_txt_db: {cfg.val_query_txt_db} has no answer labels; validation "
                         "needs them (evaluate unlabelled splits with --eval-only --split test)")
    model = build_qa_model(cfg, corpus, dist, log)
    stream = TaskStream(train_set, cfg.train_batch_size, rank=dist.rank, world_size=dist.world_size,
                        seed=cfg.seed, num_workers=cfg.n_workers, pin_memory=cfg.pin_mem)
    task = cfg.task

    def validate(net: torch.nn.Module, step: int) -> dict[str, dict[str, float]]:
        result = evaluate_qa(net, val_set, cfg.val_batch_size, dist, cfg.precision)
        return {task: result.summary()}

    return TrainingJob(
        model=model, model_config=model_config_dict(model.config),
        batches=MetaLoader({task: stream}, {task: 1}, cfg.gradient_accumulation_steps, cfg.seed),
        forward=lambda m, _task, batch, _step: m(batch),
        scalars=training_scalars,
        validate=validate if val_set is not None else None,
        best_metric=(task, "acc") if val_set is not None else None)


def training_scalars(_task: str, output: Any) -> dict[str, float]:
    return {"loss": output.loss.item(), "qa_loss": output.qa_loss.item(),
            "temporal_loss": output.temporal_loss.item()}
