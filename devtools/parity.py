"""Numerical parity with the reference HERO implementation, from a fixture of reference outputs.

The fixture (format: ``shared/fixtures/README.md``) holds reference state dicts, raw uncollated
inputs and the reference outputs. Everything here goes through the project's own code paths: the
checkpoint converter, the collation functions and the task models, in eval mode.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from config.loader import from_dict
from data.loading.collate import VideoItem, collate_videos
from data.loading.task_collate import (
    MlmExample,
    QaExample,
    collate_fom,
    collate_mfm,
    collate_mlm,
    collate_retrieval,
    collate_video_qa,
)
from model.config import HeroModelConfig
from model.heads.retrieval import RetrievalLossConfig
from model.inputs import MffrBatch, MfmNceBatch
from model.pretrain import HeroForPretraining, PretrainHeadConfig
from model.video_qa import HeroForVideoQA
from pretrained.reference_keys import reference_to_project
from pretrained.state_loading import load_state_into

TOLERANCE = 1e-5


@dataclass
class Comparison:
    name: str
    max_abs_diff: float
    shape: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= TOLERANCE


def model_config_from_fixture(fixture: dict[str, Any]) -> HeroModelConfig:
    """The fixture's reference-layout model config plus the sizes the reference hard-codes.

    Like the reference's loader, the frame-position table size and the FOM class count are read off
    the weights (the reference builds its FOM head with 100 classes whatever ``max_clip_len`` is).
    """
    state = fixture["pretrain_state"]
    raw = dict(fixture["model_config"])
    raw.update(
        vfeat_dim=int(fixture["vfeat_dim"]),
        max_frm_seq_len=int(state["v_encoder.f_encoder.img_embeddings.position_embeddings.weight"].shape[0]),
        max_clip_len=int(state["v_encoder.fom_output.linear_2.weight"].shape[0]))
    return from_dict(HeroModelConfig, raw, source="fixture model_config")


def _frame_owner(num_frames: int, sub2frames: list) -> torch.Tensor:
    owner = torch.full((num_frames,), -1, dtype=torch.long)
    for sub_idx, frames in sub2frames:  # fixture conversion, not a hot path
        owner[list(frames)] = sub_idx
    return owner


def video_items(fixture: dict[str, Any], removed: dict[str, set[int]] | None = None) -> list[VideoItem]:
    """Subtitle rows are ``[SEP] + tokens``; subtitles in ``removed[vid]`` keep only ``[SEP]``."""
    sep = fixture["tokens"]["sep"]
    items = []
    for video in fixture["videos"]:
        gone = (removed or {}).get(video["vid"], set())
        rows = [[sep] if i in gone else [sep, *ids] for i, ids in enumerate(video["sub_input_ids"])]
        items.append(VideoItem(video["feats"].float(), _frame_owner(len(video["feats"]), video["sub2frames"]), rows))
    return items


def _mlm_examples(fixture: dict[str, Any]) -> list[MlmExample]:
    videos = {v["vid"]: v for v in fixture["videos"]}
    examples = []
    for ex in fixture["mlm"]:
        video = videos[ex["vid"]]
        frames = dict((s, f) for s, f in video["sub2frames"])[ex["sub_idx"]]
        examples.append(MlmExample(video["feats"][list(frames)].float(), ex["input_ids"], ex["txt_labels"]))
    return examples


def build_models(fixture: dict[str, Any]) -> tuple[HeroForPretraining, HeroForVideoQA]:
    """Task models with the fixture's weights, converted by the project's converter."""
    config = model_config_from_fixture(fixture)
    vsm = fixture["vcmr_options"]
    loss = RetrievalLossConfig(
        lw_st_ed=vsm["lw_st_ed"], lw_neg_ctx=vsm["lw_neg_ctx"], lw_neg_q=vsm["lw_neg_q"],
        ranking_loss_type=vsm["ranking_loss_type"], margin=vsm["margin"],
        use_all_neg=vsm["use_all_neg"], hard_pool_size=vsm["hard_pool_size"],
        hard_neg_weight=vsm["hard_neg_weight"], use_hard_negative=vsm["use_hard_negative"])
    pretrain = HeroForPretraining(config, vsm_loss=loss,
                                  heads=PretrainHeadConfig(nce_negatives_from_padding=True,
                                                             span_zero_padding=False))
    qa = HeroForVideoQA(config)
    for model, key in ((pretrain, "pretrain_state"), (qa, "videoqa_state")):
        state, report = reference_to_project(fixture[key])
        if report.unknown:
            raise ValueError(f"fixture {key}: unknown reference keys {report.unknown}")
        load_state_into(model, state, source=f"fixture {key}", allow_new_heads=False)
        model.eval()
    return pretrain, qa


@torch.no_grad()
def project_outputs(fixture: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Every output named in the fixture, computed by the project."""
    pretrain, qa_model = build_models(fixture)
    tokens = fixture["tokens"]
    pad, sep = tokens["pad"], tokens["sep"]
    items = video_items(fixture)
    out: dict[str, torch.Tensor] = {}

    out["repr"] = pretrain.hero(collate_videos(items, pad))

    mlm = pretrain(collate_mlm(_mlm_examples(fixture), pad))
    out["mlm_scores"], out["mlm_loss"] = mlm.scores, mlm.token_losses

    masks = [torch.tensor(m) for m in fixture["mfm_frame_masks"]]
    nce = pretrain(collate_mfm(items, masks, pad, MfmNceBatch))
    out["mfm_nce_pred"], out["mfm_nce_neg"], out["mfm_nce_loss"] = nce.predictions, nce.negatives, nce.frame_losses
    mffr = pretrain(collate_mfm(items, masks, pad, MffrBatch))
    out["mffr_pred"], out["mffr_loss"] = mffr.predictions, mffr.squared_errors

    fom = pretrain(collate_fom(items, [torch.tensor(f["orders"]) for f in fixture["fom"]],
                               [torch.tensor(f["targets"]) for f in fixture["fom"]], pad))
    out["fom_scores"], out["fom_loss"] = fom.scores, fom.loss

    vsm_inputs = fixture["vsm"]
    removed = {v["vid"]: set(v["query_subs"]) for v in vsm_inputs}
    batch = collate_retrieval(video_items(fixture, removed), [v["queries"] for v in vsm_inputs],
                              [v["targets"] for v in vsm_inputs], pad)
    frames = pretrain.hero(batch.video)
    queries = pretrain.retrieval.encode_queries(pretrain.hero.encode_text(batch.queries), batch.queries.mask)
    scores, st, ed = pretrain.retrieval.score(queries, frames, batch.video.clip_mask)
    out["vsm_q2video_scores"], out["vsm_st_logits"], out["vsm_ed_logits"] = scores, st, ed
    vsm = pretrain(batch)
    loss_config = pretrain.vsm_loss
    out["vsm_loss_st_ed"] = loss_config.lw_st_ed * vsm.loss_span
    out["vsm_loss_neg_ctx"] = loss_config.lw_neg_ctx * vsm.loss_neg_ctx
    out["vsm_loss_neg_q"] = loss_config.lw_neg_q * vsm.loss_neg_q

    qa_items = {item_vid: item for item_vid, item in zip([v["vid"] for v in fixture["videos"]], items)}
    examples = [QaExample(qa_items[q["vid"]], q["question"], q["answers"], int(q["target"]),
                          tuple(q["ts_target"])) for q in fixture["videoqa"]]
    qa = qa_model(collate_video_qa(examples, sep, pad))
    out["qa_logits"], out["qa_loss"], out["qa_temporal_loss"] = qa.logits, qa.qa_loss, qa.temporal_loss
    return out


def compare(fixture: dict[str, Any], on_result: Callable[[Comparison], None] | None = None
            ) -> list[Comparison]:
    """Max absolute difference of every fixture output against the project's computation."""
    ours = project_outputs(fixture)
    results = []
    for name, reference in fixture["outputs"].items():
        if name not in ours:
            raise KeyError(f"fixture output {name!r} is not computed by the parity check")
        mine = ours[name].float()
        if tuple(mine.shape) != tuple(reference.shape):
            raise ValueError(f"{name}: project shape {tuple(mine.shape)} != reference {tuple(reference.shape)}")
        result = Comparison(name, float((mine - reference.float()).abs().max()) if mine.numel() else 0.0,
                            tuple(reference.shape))
        results.append(result)
        if on_result:
            on_result(result)
    return results
