"""Video QA fine-tuning (TVQA, How2QA) as a :class:`TrainingJob` (hero-reference.md §4.3), and the evaluation
of a checkpoint on one split (``train_videoQA.py --eval-only``).

The clips (subtitle db + feature db) form one :class:`VideoCorpus`; each split's question db becomes a
:class:`VideoQaDataset`. Training streams the train split; validation runs :func:`evaluate_qa` on the
val split over all ranks, and the validation accuracy picks ``ckpt/model_best.pt``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from config.loader import section
from config.schema import ClipOptions, VideoQaConfig
from data.dbs.corpus import VideoCorpus
from data.loading.meta_loader import MetaLoader, TaskStream
from data.loading.qa_datasets import VideoQaDataset
from evaluation.qa_eval import evaluate_qa
from evaluation.results import results_dir, write_qa_results, write_source
from model.video_qa import HeroForVideoQA
from pretrained.checkpoint_file import model_writer
from pretrained.loading import DataShape
from tasks.corpus import existing_db, open_corpus
from tasks.data_report import DataReport
from tasks.setup import SetupError, build_task_model
from utils.distributed import Distributed
from utils.precision import inference_precision
from utils.trainer import TrainingJob

SPLIT_OPTIONS = {"train": "train_query_txt_db", "val": "val_query_txt_db", "test": "test_query_txt_db",
                 "test_public": "test_query_txt_db"}
EVAL_SPLITS = {split: option for split, option in SPLIT_OPTIONS.items() if split != "train"}
Log = Callable[[str], None]


def open_task_corpus(cfg: VideoQaConfig) -> VideoCorpus:
    return open_corpus(cfg.sub_txt_db, cfg.vfeat_db, section(cfg, ClipOptions))


def build_split(cfg: VideoQaConfig, corpus: VideoCorpus, split: str, log: Log) -> VideoQaDataset:
    """The questions of ``split`` (train / val / test) whose clip is in the corpus.

    Only training drops questions longer than ``max_txt_len`` (the reference rule); evaluation keeps
    every question so the prediction file covers the whole split.
    """
    option = SPLIT_OPTIONS[split]
    path = existing_db(getattr(cfg, option), option)
    try:
        dataset = VideoQaDataset(corpus, path, cfg.max_txt_len, training=split == "train", seed=cfg.seed)
    except ValueError as error:
        raise SetupError(f"{option}: {error}") from error
    dropped = {k: v for k, v in dataset.dropped.items() if v}
    log(f"{split}: {len(dataset)} questions, {dataset.num_answers} answers each, from {path}"
        + (f" (dropped {dropped})" if dropped else ""))
    return dataset


def build_qa_model(cfg: VideoQaConfig, corpus: VideoCorpus, dist: Distributed, log: Log,
                   require_heads: bool = False) -> HeroForVideoQA:
    """HeroForVideoQA from ``cfg.checkpoint`` (pre-training, reference HERO or fine-tuned weights).

    With ``require_heads`` (evaluation) the checkpoint must hold the QA heads: evaluating freshly
    initialised heads would silently report chance-level numbers.
    """
    data = DataShape(corpus.feature_dim, corpus.token_ids.vocab_size, cfg.max_clip_len)
    return build_task_model(lambda config: HeroForVideoQA(config, cfg.lw_st_ed), cfg, data, dist, log,
                            require_task_heads=require_heads)


def build_videoqa_job(cfg: VideoQaConfig, dist: Distributed, log: Log) -> TrainingJob:
    """Everything Video QA fine-tuning needs, validated before the first step."""
    corpus = open_task_corpus(cfg)
    train_set = build_split(cfg, corpus, "train", log)
    val_set = build_split(cfg, corpus, "val", log) if cfg.val_query_txt_db else None
    if val_set is not None and not val_set.db.has_labels:
        raise SetupError(f"val_query_txt_db: {cfg.val_query_txt_db} has no answer labels; validation "
                         "needs them (evaluate unlabelled splits with --eval-only --split test)")
    report = DataReport()
    report.corpus(cfg.task, corpus)
    report.dataset(f"{cfg.task} training questions", train_set)
    if val_set is not None:
        report.dataset(f"{cfg.task} validation questions", val_set)
    report.log(log)
    report.check(cfg.max_dropped_share)
    model = build_qa_model(cfg, corpus, dist, log)
    stream = TaskStream(train_set, cfg.train_batch_size, rank=dist.rank, world_size=dist.world_size,
                        seed=cfg.seed, num_workers=cfg.n_workers, pin_memory=cfg.pin_mem)
    task = cfg.task

    precision = inference_precision(cfg.precision, dist.device, log)

    def validate(net: torch.nn.Module, step: int) -> dict[str, dict[str, float]]:
        result = evaluate_qa(net, val_set, cfg.val_batch_size, dist, precision)
        return {task: result.summary()}

    return TrainingJob(
        model=model, save_model=model_writer(model.config),
        batches=MetaLoader({task: stream}, {task: 1}, cfg.gradient_accumulation_steps, cfg.seed),
        forward=lambda m, _task, batch, _step: m(batch),
        scalars=training_scalars,
        validate=validate if val_set is not None else None,
        best_metric=(task, "acc") if val_set is not None else None,
        data_report=report.as_dict())


def training_scalars(_task: str, output: Any) -> dict[str, float]:
    return {"loss": output.loss.item(), "qa_loss": output.qa_loss.item(),
            "temporal_loss": output.temporal_loss.item()}


def evaluate_videoqa(cfg: VideoQaConfig, split: str, dist: Distributed, log: Log) -> None:
    """Predict one split with the model of ``cfg.checkpoint``; rank 0 writes ``output_dir/results_<split>/``."""
    corpus = open_task_corpus(cfg)
    dataset = build_split(cfg, corpus, split, log)
    model = build_qa_model(cfg, corpus, dist, log, require_heads=True)
    precision = inference_precision(cfg.precision, dist.device, log)
    result = evaluate_qa(model, dataset, cfg.val_batch_size, dist, precision)
    if dist.is_main:
        out = results_dir(cfg.output_dir, split)
        write_qa_results(out, split, result, log)
        write_source(out, query_db=getattr(cfg, SPLIT_OPTIONS[split]), sub_txt_db=cfg.sub_txt_db,
                     vfeat_db=cfg.vfeat_db, checkpoint=cfg.checkpoint)
