"""Full VCMR / SVMR / VR inference over a video corpus (hero-reference.md §4.2, with the §8.3/§8.20 fixes).

1. Every corpus video is encoded once (batches of ``vcmr_eval_video_batch_size`` videos of similar
   length, so the Temporal Transformer pads little; the Cross-modal Transformer runs packed as in
   training; with several processes each encodes its share of the batches and all receive the whole
   corpus), padded to the longest clip.
2. Queries are encoded in chunks of about ``QUERY_CHUNK`` (:func:`encode_queries`: each distinct text
   once, packed, in length-sorted batches of up to ``QUERY_TOKEN_BUDGET`` tokens); a chunk is whole
   ``vcmr_eval_q_batch_size`` batches and the same on any number of ranks (with ``distributed_eval`` the
   chunks are dealt to the ranks, so the gathered result equals one process'). Each chunk is scored at
   once (:meth:`MomentScorer.decode`): max-cosine video scores against the whole corpus in video chunks →
   VR top-k → span similarities only for each query's top ``max_vcmr_video`` videos (and its ground-truth
   video for SVMR), grouped by video → start/end probabilities → top ``max_before_nms`` spans
   (``torch.topk``) → NMS → top ``max_after_nms``. Memory is bounded by the chunk size and
   ``SCORE_BUDGET``, never by the number of queries.
3. NMS is applied identically with and without labels (the reference saved post-NMS val but pre-NMS
   test predictions).

Precision: the encoders run under autocast to ``precision`` (bf16 / fp16; the caller picks what the
hardware runs fast, see ``utils.precision.inference_precision``); their outputs are kept in fp32 and every
score, probability and decoding step is fp32 — bf16 scores (8 mantissa bits) would tie many of a
query's 2,000+ videos and spans.

Queries come from a retrieval query db or from any :class:`data.retrieval_datasets.QuerySource` (e.g.
the held-out subtitles of ``train_vsm.py``); the options from any :class:`config.schema.MomentEvalOptions`.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from config.schema import MomentEvalOptions
from data.dbs.corpus import VideoCorpus
from data.dbs.query_db import QueryDb, read_video_index
from data.loading.retrieval_datasets import QuerySource, VcmrQueryDataset, VcmrVideoDataset
from evaluation.moment_decoding import batched_nms_keep, candidate_rows, split_rows, top_spans, top_videos
from evaluation.tvr_metrics import evaluate
from model.inputs import TextInputs
from utils.distributed import Distributed
from utils.precision import autocast

SCORE_BUDGET = 1 << 24  # elements of the largest intermediate tensor of one scoring step (64 MB fp32)
# Queries encoded together: large enough for efficient matmuls and to find repeated texts, small enough
# that chunks deal evenly to ranks (TVR val: 23 chunks) and memory stays flat in the number of queries.
QUERY_CHUNK = 512
# A video with more (query, video) pairs to score than this gets a matmul of its own (see pair_similarity)
PAIR_SLOTS = 8
QUERY_TOKEN_BUDGET = 16384  # tokens per query-encoding forward (base model fp32: ~200 MB of activations)


@dataclass
class CorpusEmbeddings:
    """The encoded candidate videos: frames (V, L, D), mask (V, L), lengths (V,), official ids (V,)."""

    frames: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor
    official: np.ndarray


@dataclass
class DecodeOptions:
    """The decoding hyper-parameters of a run (reference option names)."""

    q2c_alpha: float = 20.0
    max_vcmr_video: int = 100
    min_pred_l: int = 2
    max_pred_l: int = 16
    max_before_nms: int = 200
    max_after_nms: int = 100
    nms_thd: float = 0.5
    frame_interval: float = 1.5
    tasks: Sequence[str] = ("VCMR", "SVMR", "VR")

    @classmethod
    def from_config(cls, cfg: MomentEvalOptions, frame_interval: float) -> DecodeOptions:
        return cls(cfg.q2c_alpha, cfg.max_vcmr_video, cfg.min_pred_l, cfg.max_pred_l, cfg.max_before_nms,
                   cfg.max_after_nms, cfg.nms_thd, frame_interval, tuple(cfg.full_eval_tasks))


def _batches(n: int, size: int, dist: Distributed, shard: bool) -> list[list[int]]:
    """Contiguous batches of ``size``; with ``shard`` this rank's batches (rank, rank + world, …)."""
    batches = [list(range(i, min(i + size, n))) for i in range(0, n, size)]
    return batches[dist.rank::dist.world_size] if shard else batches


def query_chunks(n: int, batch_size: int, dist: Distributed, shard: bool) -> list[list[list[int]]]:
    """Chunks of consecutive scoring batches (about ``QUERY_CHUNK`` queries, the same on any number of
    ranks); with ``shard`` this rank's chunks (rank, rank + world, …)."""
    batches = _batches(n, batch_size, dist, shard=False)
    per_chunk = max(1, QUERY_CHUNK // batch_size)
    chunks = [batches[i:i + per_chunk] for i in range(0, len(batches), per_chunk)]
    return chunks[dist.rank::dist.world_size] if shard else chunks


def _loader(dataset: Any, batches: list[list[int]]) -> DataLoader:
    return DataLoader(dataset, batch_sampler=batches, collate_fn=dataset.collate, num_workers=0)


def candidate_videos(corpus: VideoCorpus, db: QueryDb, split: str | None = None) -> tuple[list[str], dict[str, int]]:
    """Candidate videos (sorted names) and their official indices: the query db's ``video2idx``
    restricted to the corpus when present, else the ``split`` of the subtitle db's ``vid2dur_idx.json``
    (the released TV dbs, as the reference evaluation), else the sorted corpus order."""
    index, source = db.video2idx, f"{db.path}/video2idx.json"
    released_index = corpus.subtitles.path / "vid2dur_idx.json"
    if not index and split is not None and released_index.is_file():
        index, source = read_video_index(released_index, split), f"split {split!r} of {released_index}"
    if index:
        names = sorted(v for v in corpus.ids() if v in index)
        if not names:
            raise ValueError(f"no video of {source} is in the corpus")
        return names, {v: int(index[v]) for v in names}
    names = sorted(corpus.ids())
    return names, {v: i for i, v in enumerate(names)}


@torch.no_grad()
def encode_corpus(model: nn.Module, corpus: VideoCorpus, names: list[str], video2idx: dict[str, int],
                  batch_size: int, dist: Distributed, precision: str = "fp32") -> CorpusEmbeddings:
    """Encode every candidate video once (shared out across ranks, gathered to all), under autocast to
    ``precision``; the frames are kept in fp32. Batches hold videos of similar length (stable sort by
    frames: the same batches on any number of ranks)."""
    by_length = sorted(names, key=corpus.num_frames)
    dataset = VcmrVideoDataset(corpus, by_length)
    mine = []
    for batch in _loader(dataset, _batches(len(names), batch_size, dist, shard=True)):
        batch = batch.to(dist.device)
        with autocast(precision, dist.device.type):
            frames = model.encode_videos(batch.video)
        frames = frames.float().cpu()
        mine.append((batch.video_ids, frames, batch.video.clip_mask.cpu()))
    parts = [part for rank_parts in dist.all_gather_object(mine) for part in rank_parts]
    order = {v: i for i, v in enumerate(names)}
    longest = max(f.shape[1] for _, f, _ in parts)
    dim = parts[0][1].shape[2]
    frames = torch.zeros(len(names), longest, dim)
    mask = torch.zeros(len(names), longest, dtype=torch.bool)
    for ids, f, m in parts:
        rows = torch.tensor([order[v] for v in ids])
        frames[rows, :f.shape[1]] = f
        mask[rows, :m.shape[1]] = m.bool()
    official = np.array([video2idx[v] for v in names], dtype=np.int64)
    return CorpusEmbeddings(frames.to(dist.device), mask.to(dist.device), mask.sum(1), official)


@torch.no_grad()
def encode_queries(model: nn.Module, text: TextInputs, precision: str = "fp32") -> torch.Tensor:
    """Query vectors (Q, D) in fp32 for padded query texts (Q, T), under autocast to ``precision``.

    Each distinct text is encoded once; the distinct texts go in length order, in batches of at most
    ``QUERY_TOKEN_BUDGET`` padded tokens, each cut to its longest text (the Cross-modal Transformer
    also runs packed: only attention sees padding).
    """
    keyed = text.ids.masked_fill(~text.mask, -1)  # padding never makes two equal texts differ
    distinct, inverse = torch.unique(keyed, dim=0, return_inverse=True)
    lengths = (distinct >= 0).sum(1)
    order = torch.argsort(lengths, stable=True)
    rows = max(1, QUERY_TOKEN_BUDGET // int(lengths.max()))
    vectors = None
    for first in range(0, len(order), rows):
        index = order[first:first + rows]
        width = int(lengths[index].max())
        ids = distinct[index, :width]
        batch = TextInputs(ids=ids.clamp_min(0), positions=text.positions[:width], mask=ids >= 0)
        with autocast(precision, text.ids.device.type):
            encoded = model.encode_queries(batch).float()
        if vectors is None:
            vectors = encoded.new_empty(len(distinct), encoded.shape[-1])
        vectors[index] = encoded
    return vectors[inverse]


class MomentScorer:
    """Scores encoded queries against an encoded corpus and decodes the three prediction lists."""

    def __init__(self, model: nn.Module, corpus: CorpusEmbeddings, options: DecodeOptions) -> None:
        self.model, self.corpus, self.opt = model, corpus, options
        frames = corpus.frames
        self.flat = frames.reshape(-1, frames.shape[-1])  # (V·L, D), a view: no copy of the corpus
        # F.normalize(x, eps=1e-5) = x / max(‖x‖, 1e-5): keep the norms, not a normalised corpus copy
        self.frame_norms = self.flat.norm(dim=-1).clamp_min(1e-5).view(frames.shape[:2])  # (V, L)

    def video_scores(self, queries: torch.Tensor) -> torch.Tensor:
        """(Q, V) max-cosine scores of every (query, corpus video), in video chunks that bound the
        temporaries. frames · queriesᵀ (the long side first) multiplies fastest here."""
        mask = self.corpus.mask
        num_videos, length = mask.shape
        normalised = torch.nn.functional.normalize(queries, dim=-1, eps=1e-5)
        q = len(queries)
        scores = queries.new_empty(q, num_videos)
        chunk = max(1, SCORE_BUDGET // (q * length))
        for v0 in range(0, num_videos, chunk):
            v1 = min(v0 + chunk, num_videos)
            cosine = (self.flat[v0 * length: v1 * length] @ normalised.t()).view(v1 - v0, length, q)
            # in place, and masked_fill_ for mask_logits (equal for finite values): one pass each
            cosine.div_(self.frame_norms[v0:v1, :, None]).masked_fill_(~mask[v0:v1, :, None], -1e4)
            scores[:, v0:v1] = torch.amax(cosine, 1).t()
        return scores

    def pair_similarity(self, span_queries: torch.Tensor, pair_query: torch.Tensor, pair_video: torch.Tensor
                        ) -> torch.Tensor:
        """Span similarities q'·h (P, L) of P (query, corpus video) pairs; ``span_queries`` (Q, D) are the
        projected queries, ``pair_query`` / ``pair_video`` (P,) index them and the corpus.

        Only the pairs decoding needs (each query's top videos and its ground-truth video: ~5 % of a
        TVR-val chunk's pairs) are computed, not every (query, frame) product, and the corpus is read in
        place. The pairs are grouped by video: a video asked by more than ``PAIR_SLOTS`` queries (a top
        video of many) meets them in one matmul of its own; the others share batched matmuls
        (v, ≤ PAIR_SLOTS, D) · (v, D, L) over chunks of videos — so a few popular videos do not pad every
        video of their chunk to their number of queries.
        """
        num_videos, length = self.corpus.mask.shape
        order = torch.argsort(pair_video, stable=True)  # the pairs grouped by video
        video_sorted, query_sorted = pair_video[order], pair_query[order]
        counts = torch.bincount(pair_video, minlength=num_videos)
        starts = torch.cumsum(counts, 0) - counts  # first sorted pair of each video
        similarity = span_queries.new_empty(len(order), length)
        popular = counts > PAIR_SLOTS
        for video, first, count in zip(*(t.tolist() for t in (popular.nonzero()[:, 0], starts[popular],
                                                              counts[popular]))):
            pairs = slice(first, first + count)
            similarity[order[pairs]] = span_queries[query_sorted[pairs]] @ self.corpus.frames[video].t()
        shared = ~popular[video_sorted]
        slot = torch.arange(len(order), device=order.device)[shared] - starts[video_sorted[shared]]
        similarity[order[shared]] = self._batched_pairs(span_queries, query_sorted[shared], video_sorted[shared], slot)
        return similarity

    def _batched_pairs(self, span_queries: torch.Tensor, pair_query: torch.Tensor, pair_video: torch.Tensor,
                       slot: torch.Tensor) -> torch.Tensor:
        """q'·h (P, L) of pairs sorted by video, each at ``slot`` (< PAIR_SLOTS) among its video's pairs:
        one batched matmul (v, slots, D) · (v, D, L) per chunk of videos, the corpus read in place."""
        frames = self.corpus.frames
        num_videos, length, dim = frames.shape
        similarity = span_queries.new_empty(len(pair_video), length)
        chunk = max(1, SCORE_BUDGET // (max(PAIR_SLOTS, 1) * max(dim, length)))
        bounds = torch.searchsorted(pair_video, torch.arange(0, num_videos + chunk, chunk, device=slot.device))
        for c, v0 in enumerate(range(0, num_videos, chunk)):
            first, last = int(bounds[c]), int(bounds[c + 1])
            if first == last:
                continue
            rows, slots = pair_video[first:last] - v0, slot[first:last]
            grouped = span_queries.new_zeros(min(chunk, num_videos - v0), int(slots.max()) + 1, dim)
            grouped[rows, slots] = span_queries[pair_query[first:last]]
            product = torch.bmm(grouped, frames[v0:v0 + chunk].transpose(1, 2))  # (v, ≤ PAIR_SLOTS, L)
            similarity[first:last] = product[rows, slots]
        return similarity

    def span_probs(self, queries: torch.Tensor, pair_query: torch.Tensor, pair_video: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """Start / end probabilities (P, L) of P (query, corpus video) pairs (see :meth:`pair_similarity`)."""
        similarity = self.pair_similarity(self.model.span_queries(queries), pair_query, pair_video)
        st, ed = self.model.span_logits(similarity, self.corpus.mask[pair_video])
        return st.float().softmax(-1), ed.float().softmax(-1)

    def _ranked_spans(self, st: torch.Tensor, ed: torch.Tensor, videos: torch.Tensor,
                      weight: torch.Tensor | None) -> list[np.ndarray]:
        """Per query: top spans of its videos (Q, K) from probabilities (Q, K, L), after NMS."""
        opt = self.opt
        cand = top_spans(st, ed, self.corpus.lengths[videos], opt.max_before_nms, opt.min_pred_l, opt.max_pred_l,
                         video_weight=weight)
        rows = candidate_rows(cand, self.corpus.official[videos.cpu().numpy()], opt.frame_interval)
        return split_rows(rows, batched_nms_keep(rows, opt.nms_thd, opt.max_after_nms))

    def decode(self, queries: torch.Tensor, gt_videos: list[int | None]) -> list[dict[str, np.ndarray]]:
        """Per query: {"VR"|"SVMR"|"VCMR": rows [official vid, st_s, ed_s, score]} best first.

        Any number of queries (a whole chunk: the corpus product multiplies faster with more of them);
        memory grows with their number, the corpus chunks are bounded by ``SCORE_BUDGET``.
        """
        opt, official = self.opt, self.corpus.official
        n_video = max(opt.max_vcmr_video, opt.max_after_nms)
        vr_scores, vr_index = top_videos(self.video_scores(queries), opt.q2c_alpha, n_video)
        out: list[dict[str, np.ndarray]] = [{} for _ in range(len(queries))]
        device = queries.device
        # the (query, video) pairs whose spans are decoded: VCMR's top videos, SVMR's ground truth
        k_vcmr = min(opt.max_vcmr_video, vr_index.shape[1]) if "VCMR" in opt.tasks else 0
        labelled = [i for i, v in enumerate(gt_videos) if v is not None] if "SVMR" in opt.tasks else []
        vcmr_videos = vr_index[:, :k_vcmr]
        svmr_videos = torch.tensor([[gt_videos[i]] for i in labelled], dtype=torch.long, device=device).view(-1, 1)
        pair_query = torch.cat([torch.arange(len(queries), device=device).repeat_interleave(k_vcmr),
                                torch.tensor(labelled, dtype=torch.long, device=device)])
        pair_video = torch.cat([vcmr_videos.flatten(), svmr_videos.flatten()])
        if len(pair_query):
            st, ed = self.span_probs(queries, pair_query, pair_video)
            split = len(queries) * k_vcmr
            if k_vcmr:
                st_vcmr, ed_vcmr = st[:split].view(len(queries), k_vcmr, -1), ed[:split].view(len(queries), k_vcmr, -1)
                # the largest temporary is the (K, L, W) band of span scores of each query
                length = self.corpus.frames.shape[1]
                step = max(1, SCORE_BUDGET // max(k_vcmr * length * max(opt.max_pred_l - opt.min_pred_l, 1), 1))
                for s in range(0, len(queries), step):
                    sl = slice(s, s + step)
                    ranked = self._ranked_spans(st_vcmr[sl], ed_vcmr[sl], vcmr_videos[sl],
                                                vr_scores[sl, :k_vcmr].float())
                    for i, query_rows in enumerate(ranked):
                        out[s + i]["VCMR"] = query_rows
            if labelled:
                ranked = self._ranked_spans(st[split:, None], ed[split:, None], svmr_videos, None)
                for i, query_rows in zip(labelled, ranked):
                    out[i]["SVMR"] = query_rows
        if "VR" in opt.tasks:
            top = vr_index[:, :opt.max_after_nms].cpu().numpy()
            vr_rows = np.zeros((*top.shape, 4))
            vr_rows[..., 0], vr_rows[..., 3] = official[top], vr_scores[:, :opt.max_after_nms].cpu().numpy()
            for i in range(len(queries)):
                out[i]["VR"] = vr_rows[i]
        return out


def _item(desc_id: int, desc: str, rows: np.ndarray) -> dict[str, Any]:
    predictions = [[int(r[0]), round(float(r[1]), 4), round(float(r[2]), 4), float(r[3])] for r in rows]
    return {"desc_id": desc_id, "desc": desc, "predictions": predictions}


@torch.no_grad()
def run_vcmr_inference(model: nn.Module, corpus: VideoCorpus, query_db: QueryDb | str | QuerySource,
                       options: MomentEvalOptions, dist: Distributed, log: Callable[[str], None] = lambda _m: None,
                       precision: str = "fp32", video_split: str | None = None,
                       encoded: Callable[[list[str], dict[str, int]], CorpusEmbeddings | None] | None = None,
                       ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Predictions (official file content) for every query of ``query_db`` (a retrieval query db, or a
    :class:`QuerySource`) and, when the queries have labels, the official metrics. Every rank returns
    the same result. ``precision``: the encoders' autocast (scoring and decoding are fp32).
    ``video_split`` selects the candidate videos of a released subtitle db's ``vid2dur_idx.json`` (see
    :func:`candidate_videos`). ``encoded(names, video2idx)`` may return the candidates' embeddings from a
    cache (e.g. a free-text search's), sparing the corpus encoding."""
    was_training = model.training
    model.eval()
    try:
        is_db = isinstance(query_db, (QueryDb, str, os.PathLike))
        queries: QuerySource = VcmrQueryDataset(corpus, query_db) if is_db else query_db
        db = queries.db
        if db is not None:
            names, video2idx = candidate_videos(corpus, db, video_split)
        else:  # no query db: every corpus video, indexed in sorted order
            names = sorted(corpus.ids())
            video2idx = {v: i for i, v in enumerate(names)}
        emb = encoded(names, video2idx) if encoded is not None else None
        if emb is not None:
            log(f"{len(names)} videos' embeddings from the corpus cache (longest {emb.frames.shape[1]} frames)")
        else:
            emb = encode_corpus(model, corpus, names, video2idx, options.vcmr_eval_video_batch_size, dist,
                                precision)
            log(f"encoded {len(names)} videos (longest {emb.frames.shape[1]} frames, {precision})")
        scorer = MomentScorer(model, emb, DecodeOptions.from_config(options, corpus.frame_interval))
        local = {v: i for i, v in enumerate(names)}
        mine: list[tuple[int, dict[str, np.ndarray]]] = []
        chunks = query_chunks(len(queries), options.vcmr_eval_q_batch_size, dist, shard=options.distributed_eval)
        flat = [[i for batch in chunk for i in batch] for chunk in chunks]
        for indices, loaded in zip(flat, _loader(queries, flat)):
            vectors = encode_queries(model, loaded.queries.to(dist.device), precision)
            gt_videos = [local.get(v) if v is not None else None for v in loaded.video_ids]
            # the whole chunk at once: the corpus product multiplies faster with more queries
            mine.extend(zip(indices, scorer.decode(vectors, gt_videos)))
        if options.distributed_eval:
            mine = sorted((pair for part in dist.all_gather_object(mine) for pair in part), key=lambda p: p[0])
    finally:
        model.train(was_training)
    results: dict[str, list] = {task: [] for task in options.full_eval_tasks}
    ground_truth = []
    for index, decoded in mine:
        record = queries.record(index)
        desc_id = int(record["desc_id"])
        for task, rows in decoded.items():
            results[task].append(_item(desc_id, str(record.get("desc", "")), rows))
        ground_truth.append({"desc_id": desc_id, "vid_name": record.get("vid_name"), "ts": record.get("ts"),
                             "type": record.get("type")})
    predictions = {"video2idx": video2idx, **results}
    metrics = evaluate(predictions, ground_truth, by_type=options.eval_with_query_type) if queries.has_labels else None
    return predictions, metrics
