"""Pre-training as a :class:`TrainingJob`: targets → corpora → task datasets → MetaLoader, the
HeroForPretraining model, the per-task forward and the validation metrics (hero-reference.md §2)."""
from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from config.loader import section
from config.schema import ClipOptions, PretrainConfig, RetrievalOptions, TargetConfig
from data.dbs.corpus import VideoCorpus
from data.loading.lvwm_dataset import LvwmDataset
from data.loading.meta_loader import MetaLoader, TaskStream, validation_loader
from data.loading.mtc_dataset import MtcDataset
from data.loading.pretrain_datasets import FomDataset, MfmDataset, MlmDataset, VsmDataset
from data.loading.significant_words import SignificantWords
from model.heads.mtc import MtcConfig
from model.heads.retrieval import identity_gather
from model.inputs import MffrBatch, MfmNceBatch
from model.pretrain import HeroForPretraining, PretrainHeadConfig
from pretrained.checkpoint_file import model_writer
from pretrained.loading import DataShape
from tasks.corpus import open_corpus
from tasks.data_report import DataReport
from tasks.loss_schedule import retrieval_loss, retrieval_weights
from tasks.setup import SetupError, build_task_model
from tasks.significant_words import open_significant_words
from utils.distributed import Distributed
from utils.trainer import TrainingJob, unwrap

VAL_FRACTION = 0.05  # held out (by a hash of the video id) when a split names no val_idx file


def _read_ids(path: str, what: str) -> list[str]:
    try:
        ids = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SetupError(f"{what}: file not found: {path}") from None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise SetupError(f"{what}: {path} must hold a JSON list of video ids")
    return ids


def _split_ids(corpus: VideoCorpus, target: TargetConfig, split, root: str = "") -> tuple[list[str], list[str]]:
    where = f"target {target.name} split {split.name}"
    if split.train_idx:  # relative id files live under txt_db, like the subtitle dbs
        train = _read_ids(_resolve(root, split.train_idx), f"{where} train_idx")
        val = _read_ids(_resolve(root, split.val_idx), f"{where} val_idx") if split.val_idx else []
    else:
        held_out = {v for v in corpus.ids() if zlib.crc32(v.encode()) % 1000 < VAL_FRACTION * 1000}
        train = [v for v in corpus.ids() if v not in held_out]
        val = sorted(held_out)
    missing = [v for v in train + val if v not in corpus]
    if missing:
        raise SetupError(f"{where}: {len(missing)} video ids have no subtitles+features, e.g. {missing[0]!r}")
    return train, val


def _datasets(task: str, corpus: VideoCorpus, ids: list[str], cfg: PretrainConfig, seed: int, queries: int,
              words: SignificantWords | None = None):
    if task == "mlm":
        return MlmDataset(corpus, ids, cfg.mask_prob, seed,
                          significant_words=words if cfg.mlm_masking == "significant" else None)
    if task == "lvwm":
        return LvwmDataset(corpus, words, ids, queries, seed, cfg.lvwm_words)
    if task in ("mfm-nce", "mffr"):
        return MfmDataset(corpus, ids, cfg.mask_prob, seed,
                          batch_type=MfmNceBatch if task == "mfm-nce" else MffrBatch)
    if task == "fom":
        return FomDataset(corpus, ids, cfg.mask_prob, seed)
    if task == "mtc":
        return MtcDataset(corpus, ids, seed, cfg.mtc.num_keys, cfg.mtc.num_values)
    return VsmDataset(corpus, ids, queries, seed)


def _resolve(root: str, path: str) -> str:
    return str(Path(root) / path) if root and not Path(path).is_absolute() else path


def build_pretrain_job(cfg: PretrainConfig, dist: Distributed, log: Callable[[str], None]) -> TrainingJob:
    """Everything pre-training needs, validated before the first step."""
    streams: dict[str, TaskStream] = {}
    ratios: dict[str, int] = {}
    val_sets: dict[str, Any] = {}
    feature_dims: dict[int, str] = {}  # feature size → the first video db that has it
    report = DataReport()
    vocab_sizes = set()
    targets_ratio = cfg.targets_ratio or [1] * len(cfg.targets)
    for target, target_ratio in zip(cfg.targets, targets_ratio):
        clips = replace(section(cfg, ClipOptions), vfeat_interval=target.vfeat_interval)
        video_db = _resolve(cfg.img_db, target.vfeat_db)
        corpus = open_corpus(_resolve(cfg.txt_db, target.sub_txt_db), video_db, clips, where=f"target {target.name}: ")
        feature_dims.setdefault(corpus.feature_dim, video_db)
        report.corpus(f"target {target.name}", corpus)
        vocab_sizes.add(corpus.token_ids.vocab_size)
        words = None
        if cfg.mlm_masking == "significant" or any("lvwm" in split.tasks for split in target.splits):
            words = open_significant_words(corpus, cfg.significant_words, bool(cfg.demo_corpus), dist, log,
                                           f"target {target.name}: ")
        for split in target.splits:
            train_ids, val_ids = _split_ids(corpus, target, split, cfg.txt_db)
            for task, ratio in zip(split.tasks, split.ratio or [1] * len(split.tasks)):
                name = f"{task}_{target.name}_{split.name}"  # reference loader names
                dataset = _datasets(task, corpus, train_ids, cfg, cfg.seed, cfg.query_per_video, words)
                report.dataset(f"{name} videos", dataset)
                streams[name] = TaskStream(dataset, cfg.train_batch_size, rank=dist.rank,
                                           world_size=dist.world_size, seed=cfg.seed,
                                           num_workers=cfg.n_workers, pin_memory=cfg.pin_mem)
                ratios[name] = target_ratio * ratio
                if val_ids:
                    val_sets[name] = _datasets(task, corpus, val_ids, cfg, cfg.seed + 1, cfg.vsm_val_queries, words)
    report.log(log)
    report.check(cfg.max_dropped_share)
    if len(feature_dims) > 1:
        raise SetupError("targets have different feature sizes: "
                         + ", ".join(f"{path} has {dim}" for dim, path in feature_dims.items()))
    data = DataShape(next(iter(feature_dims)), max(vocab_sizes), cfg.max_clip_len)
    schedule = section(cfg, RetrievalOptions)
    loss = retrieval_loss(schedule)
    uses_mtc = any("mtc" in split.tasks for target in cfg.targets for split in target.splits)
    mtc = MtcConfig(**asdict(cfg.mtc)) if uses_mtc else None
    model = build_task_model(
        lambda config: HeroForPretraining(config, vsm_loss=loss, gather=dist.all_gather_with_grad, mtc=mtc,
                                          heads=PretrainHeadConfig(lvwm_temperature=cfg.lvwm_temperature)),
        cfg, data, dist, log)
    log(f"tasks {ratios}")
    return TrainingJob(
        model=model, save_model=model_writer(model.config),
        batches=MetaLoader(streams, ratios, cfg.gradient_accumulation_steps, cfg.seed),
        forward=lambda m, task, batch, step: m(batch, retrieval_weights(step, schedule, cfg.seed)),
        scalars=training_scalars,
        validate=lambda m, step: validate_pretraining(m, val_sets, cfg.val_batch_size, dist),
        data_report=report.as_dict())


def training_scalars(task: str, output: Any) -> dict[str, float]:
    values = {"loss": output.loss.item()}
    if task.startswith("vsm"):
        values.update(span=output.loss_span.item(), neg_ctx=output.loss_neg_ctx.item(),
                      neg_q=output.loss_neg_q.item())
    if task.startswith("mtc"):
        values.update(t2v=output.loss_t2v.item(), v2t=output.loss_v2t.item())
    return values


@torch.no_grad()
def validate_pretraining(model: nn.Module, datasets: dict[str, Any], batch_size: int,
                         dist: Distributed) -> dict[str, dict[str, float]]:
    """Per task: MLM / MFM-NCE / FOM / MTC accuracy, MFFR loss, VSM and LVWM R@1 within each validation batch, and
    beside each accuracy its ``chance`` level on the same batches (see :func:`_batch_sums`)."""
    net = unwrap(model)
    net.eval()
    previous_gather, net.gather = net.gather, identity_gather  # ranks may hold different batch counts
    results = {}
    try:
        for name, dataset in sorted(datasets.items()):
            sums = torch.zeros(4, dtype=torch.float64)  # loss·n, hits, n, chance hits
            # MLM chance is the best constant guess: always the validation set's most frequent target token
            is_mlm = name.startswith("mlm")
            label_counts = torch.zeros(net.config.f_config.vocab_size if is_mlm else 0, dtype=torch.float64)
            for batch in validation_loader(dataset, batch_size, rank=dist.rank,
                                           world_size=dist.world_size):
                out = net(batch.to(dist.device))
                sums += torch.tensor(_batch_sums(name, batch, out), dtype=torch.float64)
                if is_mlm:
                    label_counts += torch.bincount(batch.labels.cpu(), minlength=len(label_counts)).double()
            if is_mlm:
                sums[3] = dist.all_reduce_sum(label_counts).max() / dist.world_size  # summed again just below
            loss_sum, hits, count, chance = dist.all_reduce_sum(sums).tolist()
            metric = {"mlm": "acc", "mfm-nce": "acc", "fom": "acc", "vsm": "r1", "mtc": "acc",
                      "lvwm": "r1"}.get(name.split("_")[0])
            results[name] = {"loss": loss_sum / max(count, 1)}
            if metric:
                results[name][metric] = hits / max(count, 1)
                results[name]["chance"] = chance / max(count, 1)
    finally:
        net.gather = previous_gather
        net.train()
    return results


def _batch_sums(name: str, batch: Any, out: Any) -> tuple[float, float, float, float]:
    """(loss·n, hits, n, chance hits) of one batch. Chance: MLM always predicts the validation set's most
    frequent masked token (counted in :func:`validate_pretraining`); MFM-NCE picks uniformly among the batch's
    masked + negative frames; FOM guesses that every shuffled frame stayed in place; MTC picks uniformly among a
    key's candidates; VSM and LVWM R@1 pick uniformly among the batch's videos."""
    task = name.split("_")[0]
    if task == "mlm":  # chance is set from the label counts of the whole validation set
        return (float(out.token_losses.sum()), float((out.scores.argmax(-1) == batch.labels).sum()),
                len(batch.labels), 0.0)
    if task == "mfm-nce":
        masked, candidates = len(out.frame_losses), len(out.frame_losses) + len(out.negatives)
        return float(out.frame_losses.sum()), float(out.accuracy_hits.sum()), masked, masked / candidates
    if task == "mffr":
        return float(out.loss) * len(out.predictions), 0.0, len(out.predictions), 0.0
    if task == "fom":
        shuffled = batch.targets >= 0
        slots = torch.arange(batch.targets.shape[1], device=batch.targets.device).expand_as(batch.targets)
        stayed = float((batch.targets[shuffled] == slots[shuffled]).sum())
        return float(out.loss) * len(out.hits), float(out.hits.sum()), len(out.hits), stayed
    if task == "mtc":  # accuracy: the nearest value scored above the other value and the shifted videos
        candidates = out.logits_t2v.shape[-1]
        return float(out.loss) * len(out.hits), float(out.hits.sum()), len(out.hits), len(out.hits) / candidates
    if task == "lvwm":
        hits = (out.video_scores.argmax(-1) == out.query_video).sum()
        count, num_videos = out.video_scores.shape
        return float(out.query_losses.sum()), float(hits), count, count / num_videos
    own = batch.query_video_index.to(out.q2video_scores.device)
    hits = (out.q2video_scores.argmax(-1) == own).sum()
    return float(out.loss) * len(own), float(hits), len(own), len(own) / out.q2video_scores.shape[-1]
