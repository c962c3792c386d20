"""The VSM / VCMR losses from the run options: their static part, and their curriculum as a pure function of
the step (no model mutation)."""
from __future__ import annotations

import numpy as np

from config.schema import RetrievalOptions
from model.heads.retrieval import RetrievalLossConfig, RetrievalWeights


def retrieval_loss(options: RetrievalOptions) -> RetrievalLossConfig:
    """The static part of the loss; :func:`retrieval_weights` sets the per-step weights."""
    return RetrievalLossConfig(
        lw_st_ed=options.lw_st_ed, lw_neg_ctx=options.lw_neg_ctx, lw_neg_q=options.lw_neg_q,
        ranking_loss_type=options.ranking_loss_type, margin=options.margin, use_all_neg=options.use_all_neg,
        hard_pool_size=options.hard_pool_size[0] if options.hard_pool_size else 20,
        hard_neg_weight=options.hard_neg_weights[0] if options.hard_neg_weights else 10.0)


def retrieval_weights(step: int, options: RetrievalOptions, seed: int) -> RetrievalWeights:
    """This step's loss weights and hard-negative stage.

    - span loss: on from ``train_span_start_step`` (−1 = never), then dropped with probability
      ``drop_svmr_prob`` — drawn from an RNG keyed by (seed, step) so every rank and every resumed run
      makes the same choice;
    - hard negatives: the last stage whose ``hard_negative_start_step`` (≠ −1) has been reached.
    """
    span_on = options.train_span_start_step != -1 and step >= options.train_span_start_step
    if span_on and options.drop_svmr_prob > 0:
        span_on = bool(np.random.default_rng([seed, step, 0x5EED]).random() > options.drop_svmr_prob)
    weights = RetrievalWeights(lw_st_ed=options.lw_st_ed if span_on else 0.0,
                               lw_neg_ctx=options.lw_neg_ctx, lw_neg_q=options.lw_neg_q,
                               use_hard_negative=False)
    for start, pool, weight in zip(options.hard_negative_start_step, options.hard_pool_size,
                                   options.hard_neg_weights):
        if start != -1 and step >= start:
            weights.use_hard_negative, weights.hard_pool_size, weights.hard_neg_weight = True, pool, weight
    return weights
