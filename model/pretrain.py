"""HeroForPretraining: the backbone + MLM, MFM-NCE, MFFR, FOM and VSM heads (§2), and SNP-S3's LVWM loss.

``forward`` picks the objective from the batch's type (``MlmBatch`` → MLM, …), so one DDP-wrapped
module serves every task and each returns its own typed output.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from .config import HeroModelConfig
from .heads.mtc import MtcConfig, MtcHead, mtc_losses, pool_sentences, unit_means
from .heads.pretrain import FrameFeatureRegression, FrameOrderHead, MlmHead, mfm_nce_loss
from .heads.retrieval import Gather, MomentRetrievalHead, RetrievalLossConfig, RetrievalWeights, identity_gather
from .hero import HeroModel
from .inputs import FomBatch, LvwmBatch, MffrBatch, MfmNceBatch, MlmBatch, MtcBatch, RetrievalBatch
from .layers import init_bert_weights
from .lvwm import lvwm_forward
from .outputs import FomOutput, LvwmOutput, MffrOutput, MfmNceOutput, MlmOutput, MtcOutput, RetrievalOutput
from .vcmr import retrieval_forward
from .video_only import encode_video_only


@dataclass
class PretrainHeadConfig:
    """Options of the pre-training objectives."""

    nce_temperature: float = 1.0
    # The reference also takes MFM-NCE negatives from padded frame slots (hero-reference.md §8.1).
    # Off by default; the parity check turns it on to reproduce reference numbers.
    nce_negatives_from_padding: bool = False
    # The reference's span convolutions also read padded frame slots (see SpanPredictor).
    span_zero_padding: bool = True
    # LVWM (SNP-S3) word-bag score temperature τ: s = logsumexp_k ⟨w_k, f̂⟩ / τ (SNP-S3 has none: 1.0).
    lvwm_temperature: float = 1.0


class HeroForPretraining(nn.Module):
    """HERO with every pre-training head; parameter layout of the reference's HeroForPretraining."""

    def __init__(self, config: HeroModelConfig, vsm_loss: RetrievalLossConfig | None = None,
                 heads: PretrainHeadConfig | None = None, gather: Gather = identity_gather,
                 mtc: MtcConfig | None = None) -> None:
        super().__init__()
        self.config = config
        self.vsm_loss = vsm_loss or RetrievalLossConfig()
        self.head_config = heads or PretrainHeadConfig()
        self.gather = gather
        self.hero = HeroModel(config)
        self.mlm_head = MlmHead(config, self.hero.cross_modal.text_embeddings.word)
        self.frame_regression = FrameFeatureRegression(config)
        self.fom_head = FrameOrderHead(config)
        init = partial(init_bert_weights, std=config.f_config.initializer_range)
        for head in (self.mlm_head, self.frame_regression, self.fom_head):
            head.apply(init)
        self.mlm_head.bias.data.zero_()
        # Query encoder and span heads keep PyTorch's default initialisation, as in the reference.
        self.retrieval = MomentRetrievalHead(config, self.head_config.span_zero_padding)
        self._objectives = {
            MlmBatch: self.forward_mlm, MfmNceBatch: self.forward_mfm_nce,
            MffrBatch: self.forward_mffr, FomBatch: self.forward_fom,
            RetrievalBatch: self.forward_vsm, LvwmBatch: self.forward_lvwm,
        }
        # MTC (LF-VILA) only when a run asks for it: without it the parameters are the reference's.
        self.mtc_config = mtc
        if mtc is not None:
            self.mtc_head = MtcHead(config.hidden_size)
            self.mtc_head.apply(init)
            self._objectives[MtcBatch] = self.forward_mtc

    def forward(self, batch, weights: RetrievalWeights | None = None):
        """Run the objective matching ``type(batch)``; returns that objective's output."""
        objective = self._objectives.get(type(batch))
        if objective is None:
            raise TypeError(f"HeroForPretraining has no objective for {type(batch).__name__}")
        if isinstance(batch, RetrievalBatch):
            return objective(batch, weights)
        return objective(batch)

    def forward_mlm(self, batch: MlmBatch) -> MlmOutput:
        hidden = self.hero.cross_modal(batch.inputs)  # (S, N, D)
        scores = self.mlm_head(hidden[batch.target_mask])  # (M, V)
        token_losses = F.cross_entropy(scores.float(), batch.labels, reduction="none")
        return MlmOutput(loss=token_losses.mean(), scores=scores, token_losses=token_losses)

    def _masked_frame_predictions(self, batch: MfmNceBatch | MffrBatch
                                  ) -> tuple[torch.Tensor, torch.Tensor]:
        frames = self.hero(batch.video)  # (B, L, D)
        masked = batch.video.clip_mfm_mask
        return frames, self.frame_regression(frames[masked])  # (M, Dv)

    def forward_mfm_nce(self, batch: MfmNceBatch) -> MfmNceOutput:
        frames, predictions = self._masked_frame_predictions(batch)
        masked = batch.video.clip_mfm_mask
        negative_slots = ~masked
        if not self.head_config.nce_negatives_from_padding:
            negative_slots = negative_slots & batch.video.clip_mask
        negatives = self.frame_regression(frames[negative_slots])  # (U, Dv)
        losses, hits = mfm_nce_loss(predictions, batch.targets, negatives,
                                    self.head_config.nce_temperature)
        return MfmNceOutput(loss=losses.mean(), predictions=predictions, negatives=negatives,
                            frame_losses=losses, accuracy_hits=hits)

    def forward_mffr(self, batch: MffrBatch) -> MffrOutput:
        _, predictions = self._masked_frame_predictions(batch)
        squared = (predictions.float() - batch.targets.float()) ** 2
        return MffrOutput(loss=squared.sum(-1).sqrt().mean(), predictions=predictions,
                          squared_errors=squared)

    def forward_fom(self, batch: FomBatch) -> FomOutput:
        fused = self.hero.fuse_frames(batch.video)  # (B, L, D), original order
        index = batch.order[..., None].expand_as(fused)
        shuffled = torch.zeros_like(fused).scatter(1, index, fused)  # frame i moves to order[i]
        hidden = self.hero.temporal(shuffled, batch.video.clip_mask, self.hero.segment_anchor(batch.video))
        scores = self.fom_head(hidden).flatten(0, 1)  # (B·L, C)
        targets = batch.targets.flatten()
        selected = targets >= 0
        loss = F.cross_entropy(scores[selected].float(), targets[selected])
        hits = scores[selected].argmax(-1) == targets[selected]
        return FomOutput(loss=loss, scores=scores, hits=hits)

    def forward_lvwm(self, batch: LvwmBatch) -> LvwmOutput:
        """LVWM (SNP-S3): no parameters of its own, it trains the backbone's text and video-only passes."""
        return lvwm_forward(self.hero, batch, self.head_config.lvwm_temperature, self.gather)

    def forward_vsm(self, batch: RetrievalBatch,
                    weights: RetrievalWeights | None = None) -> RetrievalOutput:
        return retrieval_forward(self.hero, self.retrieval, batch, self.vsm_loss, weights, self.gather)

    def forward_mtc(self, batch: MtcBatch) -> MtcOutput:
        """Subtitle units from a text-only pass vs their frames from a video-only pass (§1.3 of lfvila-snps3.md)."""
        frames = encode_video_only(self.hero, batch.video)  # (B, L, D)
        counts = batch.unit_counts
        num_units = int(counts.max())
        video_units = unit_means(frames, batch.frame_unit, num_units)  # (B, U, D)
        sentences = pool_sentences(self.hero.encode_text(batch.unit_text), batch.unit_text.mask,
                                   self.mtc_config.text_pooling)  # (ΣU, D)
        unit_mask = torch.arange(num_units, device=counts.device) < counts[:, None]  # (B, U)
        text_units = sentences.new_zeros(video_units.shape).index_put((*torch.nonzero(unit_mask, as_tuple=True),),
                                                                      sentences.to(video_units.dtype))
        video_units, text_units = self.mtc_head(video_units, text_units)
        g = self.gather  # the global batch on every rank: each rank computes the same loss (as VSM)
        loss_t2v, loss_v2t, hits, logits_t2v, logits_v2t = mtc_losses(
            g(video_units), g(text_units), g(counts), g(batch.keys), g(batch.values), g(batch.labels),
            g(batch.shift_draw), self.mtc_config)
        return MtcOutput(loss=self.mtc_config.weight * (loss_t2v + loss_v2t), loss_t2v=loss_t2v, loss_v2t=loss_v2t,
                         hits=hits, logits_t2v=logits_t2v, logits_v2t=logits_v2t)
