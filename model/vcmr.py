"""HeroForVcmr: video corpus moment retrieval (TVR, How2R) — the backbone + query encoder + span head.

Training uses the VSM losses (§2.6, §4.1); inference encodes videos and queries separately and scores
them (``score``), as ``inf_vcmr.py`` needs for a whole corpus.
"""
from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from .config import HeroModelConfig
from .heads.retrieval import (
    Gather,
    MomentRetrievalHead,
    RetrievalLossConfig,
    RetrievalWeights,
    identity_gather,
    ranking_losses,
    span_loss,
    video_level_scores,
)
from .hero import HeroModel
from .inputs import RetrievalBatch, TextInputs, VideoInputs
from .outputs import RetrievalOutput, RetrievalScores


def default_weights(config: RetrievalLossConfig) -> RetrievalWeights:
    """The configured weights with every schedule switched on."""
    return RetrievalWeights(config.lw_st_ed, config.lw_neg_ctx, config.lw_neg_q,
                            config.use_hard_negative, config.hard_pool_size, config.hard_neg_weight)


def retrieval_forward(hero: HeroModel, head: MomentRetrievalHead, batch: RetrievalBatch,
                      config: RetrievalLossConfig, weights: RetrievalWeights | None,
                      gather: Gather) -> RetrievalOutput:
    """Span loss on each query's own video + ranking losses over (gathered) in-batch negatives."""
    weights = weights or default_weights(config)
    frames = hero(batch.video)  # (B, L, D)
    frame_mask = batch.video.clip_mask
    queries = head.encode_queries(hero.encode_text(batch.queries), batch.queries.mask)  # (Q, D)
    own = batch.query_video_index
    # Without the span loss (dropped this step) the logits are outputs only: kept out of the autograd
    # graph, or DDP (find_unused_parameters) would wait for span-head gradients that never come.
    with torch.set_grad_enabled(torch.is_grad_enabled() and bool(weights.lw_st_ed)):
        st_logits, ed_logits = head.span.paired(queries, frames[own], frame_mask[own])  # (Q, L)
    zero = frames.new_zeros((), dtype=torch.float32)
    loss_span = span_loss(st_logits, ed_logits, batch.span_targets) if weights.lw_st_ed else zero
    all_queries, all_frames, all_masks = gather(queries), gather(frames), gather(frame_mask)
    scores = video_level_scores(all_queries, all_frames, all_masks)  # (Q·world, B·world)
    if weights.lw_neg_ctx or weights.lw_neg_q:
        stage = replace(config, hard_pool_size=weights.hard_pool_size,
                        hard_neg_weight=weights.hard_neg_weight)
        loss_ctx, loss_q = ranking_losses(scores.float(), stage, weights.use_hard_negative)
    else:
        loss_ctx = loss_q = zero
    loss = weights.lw_st_ed * loss_span + weights.lw_neg_ctx * loss_ctx + weights.lw_neg_q * loss_q
    return RetrievalOutput(loss=loss, loss_span=loss_span, loss_neg_ctx=loss_ctx, loss_neg_q=loss_q,
                           q2video_scores=scores, st_logits=st_logits, ed_logits=ed_logits)


class HeroForVcmr(nn.Module):
    """HERO fine-tuned for moment retrieval; same parameters as the reference's HeroForVcmr."""

    def __init__(self, config: HeroModelConfig, loss: RetrievalLossConfig | None = None,
                 gather: Gather = identity_gather, span_zero_padding: bool = True) -> None:
        super().__init__()
        self.config = config
        self.loss_config = loss or RetrievalLossConfig()
        self.gather = gather
        self.hero = HeroModel(config)
        self.retrieval = MomentRetrievalHead(config, span_zero_padding)

    def forward(self, batch: RetrievalBatch,
                weights: RetrievalWeights | None = None) -> RetrievalOutput:
        return retrieval_forward(self.hero, self.retrieval, batch, self.loss_config, weights,
                                 self.gather)

    def encode_videos(self, video: VideoInputs) -> torch.Tensor:
        """Frame representations of a batch of corpus videos, (B, L, D)."""
        return self.hero(video)

    def encode_queries(self, queries: TextInputs) -> torch.Tensor:
        """Query vectors, (Q, D)."""
        return self.retrieval.encode_queries(self.hero.encode_text(queries), queries.mask)

    def span_queries(self, queries: torch.Tensor) -> torch.Tensor:
        """Query vectors projected for span scoring, (Q, D): the span similarity of a frame h is q'·h."""
        return self.retrieval.span.query_linear(queries)

    def span_logits(self, similarity: torch.Tensor, frame_mask: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Start / end logits (…, L) from span similarities q'·h (…, L) of masked frames (…, L)."""
        return self.retrieval.span.logits_from_similarity(similarity, frame_mask)

    def score(self, queries: torch.Tensor, frames: torch.Tensor,
              frame_mask: torch.Tensor) -> RetrievalScores:
        """Video-level scores (Q, V) and start/end logits (Q, V, L) for inference."""
        return RetrievalScores(*self.retrieval.score(queries, frames, frame_mask))
