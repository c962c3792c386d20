"""VCMR fine-tuning (TVR, How2R) as a :class:`TrainingJob` (hero-reference.md §4.1), and the evaluation of a
checkpoint over a whole corpus (``inf_vcmr.py``).

One stream of (query + its video) batches, the VSM losses over the gathered batch with the
span-drop / hard-negative schedule, and, every ``valid_steps``, the full corpus inference of
``inf_vcmr.py`` on the val split. The best model is the one with the highest
``VCMR_0.7-rsum`` = VCMR R@1 + R@5 + R@10 + R@100 at IoU 0.7: the paper's headline IoU, summed over
the recall cut-offs because a single R@1 is too noisy on small val sets to pick a checkpoint.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from torch import nn

from config.loader import section
from config.schema import ClipOptions, MomentEvalOptions, RetrievalOptions, VcmrConfig, VsmConfig, WeightOptions
from data.dbs.corpus import VideoCorpus
from data.dbs.query_db import QueryDb
from data.loading.meta_loader import MetaLoader, TaskStream
from data.loading.retrieval_datasets import QuerySource, VcmrDataset
from evaluation.free_text_search import cached_rows, corpus_cache_key
from evaluation.results import results_dir, write_moment_results, write_source
from evaluation.tvr_metrics import write_predictions
from evaluation.vcmr_inference import run_vcmr_inference
from model.heads.retrieval import identity_gather
from model.vcmr import HeroForVcmr
from pretrained.checkpoint_file import model_config_dict, model_writer
from pretrained.loading import DataShape
from tasks.corpus import open_corpus, open_query_db
from tasks.data_report import DataReport
from tasks.loss_schedule import retrieval_loss, retrieval_weights
from tasks.setup import SetupError, build_task_model
from utils.distributed import Distributed
from utils.precision import inference_precision
from utils.trainer import TrainingJob, unwrap

BEST_METRIC = ("vcmr", "VCMR_0.7-rsum")
Log = Callable[[str], None]
SPLIT_OPTIONS = {"val": "val_query_txt_db", "test_public": "test_query_txt_db"}


def open_task_corpus(cfg: VcmrConfig | VsmConfig) -> VideoCorpus:
    return open_corpus(cfg.sub_txt_db, cfg.vfeat_db, section(cfg, ClipOptions))


def build_vcmr_model(cfg: VcmrConfig | VsmConfig, corpus: VideoCorpus, dist: Distributed, log: Log,
                     require_task_heads: bool = False) -> HeroForVcmr:
    """HeroForVcmr from ``cfg.checkpoint`` (project, reference or pre-training weights)."""
    loss = retrieval_loss(section(cfg, RetrievalOptions))
    return build_task_model(lambda config: HeroForVcmr(config, loss, gather=dist.all_gather_with_grad), cfg,
                            corpus_shape(corpus, cfg), dist, log, require_task_heads)


def corpus_shape(corpus: VideoCorpus, cfg: Any) -> DataShape:
    """What a model must fit to read ``corpus`` with the run's clip length."""
    return DataShape(corpus.feature_dim, corpus.token_ids.vocab_size, cfg.max_clip_len)


CORPUS_CACHE = "corpus_embeddings.pt"  # a run's encoded corpus, in its output_dir (free-text search, inference)


def corpus_cache_of(cfg: VcmrConfig | VsmConfig, model: HeroForVcmr, precision: str) -> str | None:
    """Key of this run's corpus encoding (checkpoint file, both dbs, clip and weight options, model config,
    inference precision); ``None`` without a checkpoint (random weights differ from run to run)."""
    if not cfg.checkpoint:
        return None
    settings = {"clips": asdict(section(cfg, ClipOptions)), "weights": asdict(section(cfg, WeightOptions)),
                "model": model_config_dict(model.config), "precision": precision}
    return corpus_cache_key(cfg.checkpoint, cfg.sub_txt_db, cfg.vfeat_db, settings)


def build_vcmr_job(cfg: VcmrConfig, dist: Distributed, log: Log) -> TrainingJob:
    """Everything VCMR fine-tuning needs, validated before the first step."""
    corpus = open_task_corpus(cfg)
    train_db = open_query_db(cfg.train_query_txt_db, "train_query_txt_db", "retrieval")
    val_db = open_query_db(cfg.val_query_txt_db, "val_query_txt_db", "retrieval") if cfg.val_query_txt_db else None
    try:
        train_set = VcmrDataset(corpus, train_db, cfg.max_txt_len, training=True, seed=cfg.seed)
        stream = TaskStream(train_set, cfg.train_batch_size, rank=dist.rank, world_size=dist.world_size,
                            seed=cfg.seed, num_workers=cfg.n_workers, pin_memory=cfg.pin_mem)
    except ValueError as error:
        raise SetupError(f"train_query_txt_db: {error}") from error
    report = DataReport()
    report.corpus(cfg.task, corpus)
    report.dataset(f"{cfg.task} training queries", train_set)
    report.log(log)
    report.check(cfg.max_dropped_share)
    model = build_vcmr_model(cfg, corpus, dist, log)
    validate = None
    if val_db is not None:
        precision = inference_precision(cfg.precision, dist.device, log)

        def validate(m: nn.Module, step: int) -> dict[str, dict[str, float]]:
            return validate_vcmr(m, corpus, val_db, cfg, dist, step, precision)
    return retrieval_training_job(model, cfg.task, stream, cfg, validate, BEST_METRIC, report)


def retrieval_training_job(model: HeroForVcmr, task: str, stream: TaskStream, cfg: VcmrConfig | VsmConfig,
                           validate: Callable[[nn.Module, int], dict] | None,
                           best_metric: tuple[str, str], report: DataReport) -> TrainingJob:
    """The job VCMR fine-tuning and VSM adaptation share: one stream of retrieval batches, the VSM losses
    under the configured span-drop / hard-negative schedule, best model by ``best_metric`` when validated."""
    schedule = section(cfg, RetrievalOptions)
    return TrainingJob(
        model=model, save_model=model_writer(model.config),
        batches=MetaLoader({task: stream}, {task: 1}, cfg.gradient_accumulation_steps, cfg.seed),
        forward=lambda m, _task, batch, step: m(batch, retrieval_weights(step, schedule, cfg.seed)),
        scalars=training_scalars, validate=validate, best_metric=best_metric if validate is not None else None,
        data_report=report.as_dict())


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
                  dist: Distributed, step: int, precision: str = "fp32") -> dict[str, dict[str, float]]:
    """Full-corpus inference on val (encoders in ``precision``); predictions saved to
    ``output_dir/results/val_results_{step}.json``."""
    net = unwrap(model)
    previous_gather, net.gather = net.gather, identity_gather  # inference never gathers in the model
    try:
        predictions, metrics = run_vcmr_inference(net, corpus, db, section(cfg, MomentEvalOptions), dist,
                                                  precision=precision, video_split="val")
    finally:
        net.gather = previous_gather
    if dist.is_main:
        write_predictions(Path(cfg.output_dir) / "results" / f"val_results_{step}.json",
                          predictions["video2idx"], predictions)
    return {"vcmr": flat_metrics(metrics or {})}


def evaluate_vcmr(cfg: VcmrConfig, split: str, dist: Distributed, log: Log) -> None:
    """``inf_vcmr.py``: score the split's queries against the whole corpus; rank 0 writes predictions and
    metrics to ``output_dir/results_<split>/``."""
    if not cfg.checkpoint:  # useful as the chance baseline of a task
        log("warning: no --checkpoint: evaluating randomly initialised weights")
    corpus = open_task_corpus(cfg)
    option = SPLIT_OPTIONS[split]
    db = open_query_db(getattr(cfg, option), option, "retrieval")
    model = build_vcmr_model(cfg, corpus, dist, log)
    precision = inference_precision(cfg.precision, dist.device, log)
    key, cache = corpus_cache_of(cfg, model, precision), Path(cfg.output_dir) / CORPUS_CACHE

    def from_search_cache(names: list[str], video2idx: dict[str, int]):
        return cached_rows(cache, key, names, video2idx, dist.device) if key is not None else None
    predictions, metrics = run_vcmr_inference(model, corpus, db, section(cfg, MomentEvalOptions), dist, log,
                                              precision, video_split=split, encoded=from_search_cache)
    if split.startswith("test"):  # a submission: the test split's ground truth is not ours to score
        metrics = None
    if dist.is_main:
        out = results_dir(cfg.output_dir, split)
        write_moment_results(out, predictions, metrics, log)
        write_source(out, query_db=getattr(cfg, option), sub_txt_db=cfg.sub_txt_db, vfeat_db=cfg.vfeat_db,
                     checkpoint=cfg.checkpoint)
