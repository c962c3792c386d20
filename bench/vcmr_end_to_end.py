"""The end-to-end part of ``bench/vcmr_inference.py --end-to-end``: ours (fp32, bf16) and the reference loop.

Ours: ``evaluation.vcmr_inference`` as ``inf_vcmr.py`` runs it — videos encoded in batches under autocast,
queries encoded in chunks (``encode_queries``: packed, each distinct text once, under autocast), each chunk
scored and decoded at once in fp32 by ``MomentScorer``. Both sides are timed after an untimed warm-up.

The reference loop (hero-reference.md §4.2, re-implemented here from that description, fp32 as on a CPU):
per batch of 80 queries, padded to the longest, the full Cross-modal pass; cosine scores against the
L2-normalised corpus (normalised again every batch) and span logits for *every* (query, video) pair;
softmax; VR top-k; VCMR: the (Q, 100, L, L) start × end × exp(α·s) tensor, length-masked, fully sorted,
top 200; SVMR: the (Q, L, L) tensor of the GT video, fully sorted; per-query Python rows; top 100; NMS.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from bench.step import CLS, PAD, make_clip
from data.loading.collate import collate_text, collate_videos
from evaluation.moment_decoding import temporal_nms
from evaluation.vcmr_inference import (
    QUERY_CHUNK,
    CorpusEmbeddings,
    DecodeOptions,
    MomentScorer,
    encode_queries,
)
from model.layers import mask_logits
from model.vcmr import HeroForVcmr
from utils.precision import autocast

BATCH, VIDEO_BATCH = 80, 40
REFERENCE_WARMUP = 2 * BATCH  # queries the reference loop runs untimed first
TVR_VAL_VIDEOS, TVR_VAL_QUERIES = 2179, 10895


def query_rows(count: int, seed: int) -> list[list[int]]:
    """TVR-like queries: [CLS] + 8–22 word ids, all distinct."""
    rng = np.random.default_rng(seed)
    return [[CLS, *rng.integers(5, 50000, int(rng.integers(8, 23))).tolist()] for _ in range(count)]


@torch.no_grad()
def video_rate(model: HeroForVcmr, videos: int, precision: str) -> float:
    """Videos/s of the corpus encoder (Cross-modal + Temporal) in batches of ``VIDEO_BATCH``."""
    rng = np.random.default_rng(1)
    clips = [make_clip(rng, variable=True)[0] for _ in range(videos)]
    with autocast(precision, "cpu"):
        model.encode_videos(collate_videos(clips[:2], pad_id=PAD))  # warm-up
        start = time.perf_counter()
        for first in range(0, videos, VIDEO_BATCH):
            model.encode_videos(collate_videos(clips[first:first + VIDEO_BATCH], pad_id=PAD)).float()
    return videos / (time.perf_counter() - start)


@torch.no_grad()
def ours(model: HeroForVcmr, corpus: CorpusEmbeddings, rows: list[list[int]], precision: str) -> dict:
    """Query encoding and scoring + decoding rates of the library's inference path."""
    scorer = MomentScorer(model, corpus, DecodeOptions())
    gen = torch.Generator().manual_seed(0)
    # warm-up (untimed): the first pass pays one-off page faults of its large temporaries
    warm = encode_queries(model, collate_text(rows[:QUERY_CHUNK], PAD), precision)
    scorer.decode(warm, torch.randint(0, len(corpus.frames), (len(warm),), generator=gen).tolist())
    encoding = scoring = 0.0
    for first in range(0, len(rows), QUERY_CHUNK):
        text = collate_text(rows[first:first + QUERY_CHUNK], PAD)
        start = time.perf_counter()
        vectors = encode_queries(model, text, precision)
        encoding += time.perf_counter() - start
        start = time.perf_counter()
        scorer.decode(vectors, torch.randint(0, len(corpus.frames), (len(vectors),), generator=gen).tolist())
        scoring += time.perf_counter() - start
    n = len(rows)
    return {"query_encoding_per_s": n / encoding, "scoring_per_s": n / scoring,
            "per_query_per_s": n / (encoding + scoring)}


def reference_sorted_top(scores: torch.Tensor, keep: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Full descending sort of each row, first ``keep`` (the reference sorts, it does not top-k)."""
    values, index = torch.sort(scores.flatten(1), dim=1, descending=True)
    return values[:, :keep], index[:, :keep]


def reference_rows(videos: np.ndarray, starts: np.ndarray, ends: np.ndarray, scores: np.ndarray,
                   interval: float) -> list[np.ndarray]:
    """Per query, per prediction: the reference builds Python lists row by row."""
    out = []
    for q in range(len(scores)):
        rows = [[float(videos[q, i]), float(starts[q, i]) * interval, float(ends[q, i] + 1) * interval,
                 float(scores[q, i])] for i in range(scores.shape[1])]
        out.append(np.array(rows[:100]))
    return out


@torch.no_grad()
def reference_batch(model: HeroForVcmr, corpus: CorpusEmbeddings, text, gt: torch.Tensor,
                    opt: DecodeOptions) -> None:
    hero, head = model.hero, model.retrieval
    cross = hero.cross_modal
    tokens = cross.encoder(cross.text_embeddings(text.ids, text.positions), text.mask)  # padded pass
    queries = head.encode_queries(tokens, text.mask)  # (Q, D)
    frames, mask = corpus.frames, corpus.mask
    normalised = F.normalize(frames, dim=-1, eps=1e-5)  # the whole corpus, every batch
    cosine = torch.einsum("qd,vld->qvl", F.normalize(queries, dim=-1, eps=1e-5), normalised)
    video_scores = mask_logits(cosine, mask[None]).max(-1).values  # (Q, V)
    similarity = torch.einsum("qd,vld->qvl", model.span_queries(queries), frames)  # every pair
    st, ed = model.span_logits(similarity, mask[None].expand_as(similarity))
    st, ed = st.softmax(-1), ed.softmax(-1)  # (Q, V, L)
    length = frames.shape[1]
    band = torch.ones(length, length).triu(opt.min_pred_l).tril(opt.max_pred_l - 1)  # min ≤ e − s < max
    vr, top = torch.topk(torch.exp(opt.q2c_alpha * video_scores), opt.max_vcmr_video, dim=1)
    rows_q = torch.arange(len(queries))[:, None]
    span = torch.einsum("qvm,qv,qvn->qvmn", st[rows_q, top], vr, ed[rows_q, top]) * band
    values, flat = reference_sorted_top(span, opt.max_before_nms)
    video, start, end = np.unravel_index(flat.numpy(), span.shape[1:])
    vcmr = reference_rows(corpus.official[top.numpy()[np.arange(len(top))[:, None], video]], start, end,
                          values.numpy(), opt.frame_interval)
    own = torch.arange(len(queries))
    svmr_span = torch.einsum("qm,qn->qmn", st[own, gt], ed[own, gt]) * band
    values, flat = reference_sorted_top(svmr_span, opt.max_before_nms)
    start, end = np.unravel_index(flat.numpy(), svmr_span.shape[1:])
    svmr = reference_rows(np.repeat(gt.numpy()[:, None], start.shape[1], 1), start, end, values.numpy(),
                          opt.frame_interval)
    for rows in vcmr + svmr:
        temporal_nms(rows, opt.nms_thd, opt.max_after_nms)


def reference(model: HeroForVcmr, corpus: CorpusEmbeddings, rows: list[list[int]]) -> float:
    """Queries/s of the reference's loop (encoding + scoring + decoding), fp32."""
    gen = torch.Generator().manual_seed(0)
    opt = DecodeOptions()
    # warm-up (untimed), as for ours: the first batches pay one-off page faults (measured 16 → 21 → 32 q/s)
    for first in range(0, REFERENCE_WARMUP, BATCH):
        reference_batch(model, corpus, collate_text(rows[first:first + BATCH], PAD),
                        torch.randint(0, len(corpus.frames), (BATCH,), generator=gen), opt)
    rows = rows[REFERENCE_WARMUP:]
    start = time.perf_counter()
    for first in range(0, len(rows), BATCH):
        batch = rows[first:first + BATCH]
        reference_batch(model, corpus, collate_text(batch, PAD),
                        torch.randint(0, len(corpus.frames), (len(batch),), generator=gen), opt)
    return len(rows) / (time.perf_counter() - start)


def whole_val_minutes(videos_per_s: float, queries_per_s: float) -> float:
    return (TVR_VAL_VIDEOS / videos_per_s + TVR_VAL_QUERIES / queries_per_s) / 60


def end_to_end(model: HeroForVcmr, corpus: CorpusEmbeddings, videos: int, queries: int, reference_queries: int,
               precisions: list[str], log=print) -> dict:
    """Every stage timed in one run: ours in each precision, then the reference loop."""
    rows = query_rows(queries, seed=2)
    result: dict = {"videos_timed": videos, "queries_timed": queries, "corpus_videos": len(corpus.frames)}
    for precision in precisions:
        stage = ours(model, corpus, rows, precision)
        stage["videos_per_s"] = video_rate(model, videos, precision)
        stage["whole_tvr_val_min"] = whole_val_minutes(stage["videos_per_s"], stage["per_query_per_s"])
        result[precision] = {k: round(v, 2) for k, v in stage.items()}
        log(f"ours {precision}: videos {stage['videos_per_s']:.2f}/s | queries: encoding "
            f"{stage['query_encoding_per_s']:.1f}/s, scoring+decoding {stage['scoring_per_s']:.1f}/s, together "
            f"{stage['per_query_per_s']:.1f}/s | whole TVR val ≈ {stage['whole_tvr_val_min']:.1f} min")
    if reference_queries:
        rate = reference(model, corpus, query_rows(reference_queries + REFERENCE_WARMUP, seed=3))
        result["reference_fp32"] = {"per_query_per_s": round(rate, 2), "queries_timed": reference_queries}
        log(f"reference loop fp32: {rate:.1f} queries/s (encoding + scoring + decoding)")
        for precision in precisions:
            ratio = result[precision]["per_query_per_s"] / rate
            result[precision]["per_query_vs_reference"] = round(ratio, 2)
            log(f"per-query rate, ours {precision} / reference: {ratio:.1f}x")
    return result
