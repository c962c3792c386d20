"""MomentScorer (corpus scoring + span decoding) against the dense scores of HeroForVcmr.score."""
import numpy as np
import pytest
import torch

from evaluation import vcmr_inference
from evaluation.moment_decoding import batched_nms_keep, candidate_rows, split_rows, top_spans, top_videos
from evaluation.vcmr_inference import CorpusEmbeddings, DecodeOptions, MomentScorer
from model.vcmr import HeroForVcmr
from tests.helpers import tiny_config


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = HeroForVcmr(tiny_config()).eval()
    dim = model.config.hidden_size
    lengths = torch.tensor([5, 12, 9, 12, 3, 7, 11, 8, 12, 6, 10, 4, 12, 9, 2, 7, 12, 5, 8, 11])
    frames = torch.randn(len(lengths), int(lengths.max()), dim)
    mask = torch.arange(frames.shape[1])[None] < lengths[:, None]
    frames *= mask[..., None]
    corpus = CorpusEmbeddings(frames, mask, lengths, np.arange(100, 100 + len(lengths)))
    queries = torch.randn(13, dim)
    return model, corpus, queries


def dense_decode(model, corpus, queries, gt, opt):
    """The same decoding from the dense (Q, V) / (Q, V, L) scores of HeroForVcmr.score."""
    with torch.no_grad():
        scores = model.score(queries, corpus.frames, corpus.mask)
    vr_scores, vr_index = top_videos(scores.q2video_scores, opt.q2c_alpha, max(opt.max_vcmr_video, opt.max_after_nms))
    st, ed = scores.st_logits.softmax(-1), scores.ed_logits.softmax(-1)
    rows = torch.arange(len(queries))[:, None]
    k = min(opt.max_vcmr_video, vr_index.shape[1])
    videos = vr_index[:, :k]

    def ranked(st_q, ed_q, vids, weight):
        cand = top_spans(st_q, ed_q, corpus.lengths[vids], opt.max_before_nms, opt.min_pred_l, opt.max_pred_l,
                         video_weight=weight)
        found = candidate_rows(cand, corpus.official[vids.numpy()], opt.frame_interval)
        return split_rows(found, batched_nms_keep(found, opt.nms_thd, opt.max_after_nms))

    vcmr = ranked(st[rows, videos], ed[rows, videos], videos, vr_scores[:, :k].float())
    own = torch.tensor(gt)[:, None]
    svmr = ranked(st[rows, own], ed[rows, own], own, None)
    return vr_index[:, :opt.max_after_nms], vr_scores[:, :opt.max_after_nms], vcmr, svmr


@pytest.mark.parametrize("budget", [1 << 24, 300])  # one corpus chunk; many chunks, some without pairs
@pytest.mark.parametrize("slots", [0, 8, 1000])  # every video on its own; the hub alone; all batched
def test_pair_similarity_equals_every_pair_product(setup, monkeypatch, budget, slots):
    model, corpus, queries = setup
    monkeypatch.setattr(vcmr_inference, "SCORE_BUDGET", budget)
    monkeypatch.setattr(vcmr_inference, "PAIR_SLOTS", slots)
    scorer = MomentScorer(model, corpus, DecodeOptions())
    gen = torch.Generator().manual_seed(1)
    # a hub video (3) shared by every query, repeated pairs, videos nobody asks for
    pair_query = torch.cat([torch.arange(13), torch.randint(0, 13, (40,), generator=gen), torch.tensor([4, 4])])
    pair_video = torch.cat([torch.full((13,), 3), torch.randint(0, 12, (40,), generator=gen), torch.tensor([7, 7])])
    span_queries = torch.randn(13, queries.shape[1], generator=gen)
    got = scorer.pair_similarity(span_queries, pair_query, pair_video)
    expected = torch.einsum("pd,pld->pl", span_queries[pair_query], corpus.frames[pair_video])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("budget", [1 << 24, 500])
def test_decode_equals_dense_scoring(setup, monkeypatch, budget):
    model, corpus, queries = setup
    monkeypatch.setattr(vcmr_inference, "SCORE_BUDGET", budget)
    opt = DecodeOptions(max_vcmr_video=6, max_pred_l=6, max_before_nms=30, max_after_nms=8, min_pred_l=1)
    gt = [3, 0, 7, 7, 19, 2, 3, 11, 14, 5, 8, 3, 1]
    with torch.no_grad():
        got = MomentScorer(model, corpus, opt).decode(queries, gt)
    vr_index, vr_scores, vcmr, svmr = dense_decode(model, corpus, queries, gt, opt)
    for q, decoded in enumerate(got):
        assert decoded["VR"][:, 0].tolist() == corpus.official[vr_index[q].numpy()].tolist()
        np.testing.assert_allclose(decoded["VR"][:, 3], vr_scores[q].numpy(), rtol=1e-4)
        for task, expected in (("VCMR", vcmr[q]), ("SVMR", svmr[q])):
            assert len(decoded[task]) == len(expected) > 0
            np.testing.assert_array_equal(decoded[task][:, :3], expected[:, :3])
            np.testing.assert_allclose(decoded[task][:, 3], expected[:, 3], rtol=1e-4)


def test_unlabelled_queries_get_no_svmr(setup):
    model, corpus, queries = setup
    with torch.no_grad():
        got = MomentScorer(model, corpus, DecodeOptions(max_vcmr_video=4)).decode(queries[:3], [None, 5, None])
    assert ["SVMR" in d for d in got] == [False, True, False]
    assert all(len(d["VCMR"]) and len(d["VR"]) == 20 for d in got)
