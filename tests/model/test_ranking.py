"""VSM / VCMR ranking losses on hand-computed score matrices."""
import torch

from model.heads.retrieval import RetrievalLossConfig, ranking_losses, video_level_scores

# 4 queries, 2 videos: queries 0,1 belong to video 0 and queries 2,3 to video 1.
SCORES = torch.tensor([[0.9, 0.3],
                       [0.5, 0.6],
                       [0.2, 0.8],
                       [0.4, 0.1]])


def hinge(x):
    return max(0.0, x)


def test_all_negatives_hinge_by_hand():
    cfg = RetrievalLossConfig(margin=0.1, use_all_neg=True)
    ctx, neg_q = ranking_losses(SCORES, cfg, use_hard_negative=False)
    # (query, negative video): one negative per query
    expected_ctx = (hinge(0.1 + 0.3 - 0.9) + hinge(0.1 + 0.6 - 0.5)
                    + hinge(0.1 + 0.2 - 0.8) + hinge(0.1 + 0.4 - 0.1)) / 4
    # (negative query, video): each positive pair against the 2 queries of the other video
    pairs = [(0.9, [0.2, 0.4]), (0.5, [0.2, 0.4]), (0.8, [0.3, 0.6]), (0.1, [0.3, 0.6])]
    expected_q = sum(hinge(0.1 + n - p) for p, ns in pairs for n in ns) / 8
    assert abs(ctx.item() - expected_ctx) < 1e-6
    assert abs(neg_q.item() - expected_q) < 1e-6


def test_hard_negative_weights_hardest_columns():
    cfg = RetrievalLossConfig(margin=0.1, use_all_neg=True, hard_pool_size=1, hard_neg_weight=10.0)
    _, neg_q = ranking_losses(SCORES, cfg, use_hard_negative=True)
    # per positive pair: hardest negative query ×10, the other ×0.1
    pairs = [(0.9, [0.4, 0.2]), (0.5, [0.4, 0.2]), (0.8, [0.6, 0.3]), (0.1, [0.6, 0.3])]
    expected = sum(10 * hinge(0.1 + ns[0] - p) + 0.1 * hinge(0.1 + ns[1] - p) for p, ns in pairs) / 8
    assert abs(neg_q.item() - expected) < 1e-6


def test_lse_loss_by_hand():
    cfg = RetrievalLossConfig(ranking_loss_type="lse", use_all_neg=True)
    ctx, _ = ranking_losses(SCORES, cfg, use_hard_negative=False)
    import math
    diffs = [0.3 - 0.9, 0.6 - 0.5, 0.2 - 0.8, 0.4 - 0.1]
    assert abs(ctx.item() - sum(math.log1p(math.exp(d)) for d in diffs) / 4) < 1e-6


def test_sampled_negative_comes_from_the_negatives():
    torch.manual_seed(0)
    cfg = RetrievalLossConfig(margin=0.0, use_all_neg=False, ranking_loss_type="hinge")
    scores = torch.tensor([[0.5, 0.9], [0.1, 0.5]])  # 1 query per video; each has one negative
    ctx, neg_q = ranking_losses(scores, cfg, use_hard_negative=False)
    assert abs(ctx.item() - (0.4 + 0.0) / 2) < 1e-6
    assert abs(neg_q.item() - (0.0 + 0.4) / 2) < 1e-6


def test_single_video_has_no_ranking_loss():
    ctx, neg_q = ranking_losses(torch.tensor([[0.3], [0.2]]), RetrievalLossConfig(), False)
    assert ctx == 0 and neg_q == 0


def test_video_level_score_ignores_padding_frames():
    query = torch.tensor([[1.0, 0.0]])
    frames = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])  # frame 1 is identical to the query
    assert video_level_scores(query, frames, torch.tensor([[True, True]])).item() > 0.99
    assert abs(video_level_scores(query, frames, torch.tensor([[True, False]])).item()) < 1e-6
