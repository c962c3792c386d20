"""Free-text moment search over a whole corpus: the query path of VCMR inference for texts a user types
(``inf_vcmr.py --query``, the search box of ``scripts/view_results.py``).

The corpus is encoded once and cached on disk, keyed by what the frame embeddings depend on — the checkpoint
file (path, size, modification time), each db's identity (path and the size and modification time of every
file in it; a rebuilt db is a new folder renamed into place, so its files are new) and the clip options — so
a second search of the same corpus does not re-encode it and a changed checkpoint or db does. Each query is
encoded alone and its moments decoded with the run's decoding options (``DecodeOptions``), as
``inf_vcmr.py`` decodes the VCMR list.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from data.dbs.corpus import VideoCorpus
from data.loading.retrieval_datasets import collate_queries
from data.prepro.tokenization import TextTokenizer
from evaluation.vcmr_inference import CorpusEmbeddings, DecodeOptions, MomentScorer, encode_corpus
from utils.atomic_io import atomic_torch_save, atomic_write_text
from utils.distributed import Distributed

Log = Callable[[str], None]
CACHE_FORMAT = 1
_VOLATILE_DB_FILES = {"lock.mdb"}  # LMDB's reader lock file changes on every read


@dataclass(frozen=True)
class Moment:
    """One retrieved moment: video name, start and end in seconds, score."""

    video: str
    start: float
    end: float
    score: float


def _file_identity(path: Path) -> list[Any]:
    stat = path.stat()
    return [path.name, stat.st_size, stat.st_mtime_ns]


def db_identity(path: str | Path) -> list[Any]:
    """What changes when a db folder is rebuilt or edited: its real path and every file's size and mtime."""
    folder = Path(path).resolve()
    return [str(folder), *(_file_identity(p) for p in sorted(folder.iterdir())
                           if p.is_file() and p.name not in _VOLATILE_DB_FILES)]


def corpus_cache_key(checkpoint: str | Path, sub_txt_db: str | Path, vfeat_db: str | Path,
                     settings: dict[str, Any]) -> str:
    """Key of a corpus encoding: the checkpoint file, both dbs and ``settings`` (clip options, model config)."""
    ckpt = Path(checkpoint).resolve()
    parts = [CACHE_FORMAT, str(ckpt), *_file_identity(ckpt)[1:], db_identity(sub_txt_db), db_identity(vfeat_db),
             settings]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def cached_corpus_embeddings(model: nn.Module, corpus: VideoCorpus, names: list[str], batch_size: int,
                             dist: Distributed, cache: Path | None, key: str | None, log: Log,
                             precision: str = "fp32") -> CorpusEmbeddings:
    """The corpus frame embeddings of ``names``: read from ``cache`` when it holds ``key``, else encoded under
    autocast to ``precision`` (and written there by rank 0). ``cache=None`` or ``key=None`` encodes without
    caching. ``key`` must cover the precision (:func:`corpus_cache_key`'s settings)."""
    if cache is not None and key is not None and cache.is_file():
        saved = torch.load(cache, map_location="cpu", weights_only=True)
        if saved.get("key") == key and saved.get("names") == names:
            log(f"corpus embeddings from {cache}")
            return CorpusEmbeddings(saved["frames"].to(dist.device), saved["mask"].to(dist.device),
                                    saved["lengths"].to(dist.device), saved["official"].numpy())
        log(f"{cache} is of another checkpoint or corpus: re-encoding")
    where = f" (cached in {cache})" if cache is not None and key is not None else " (not cached)"
    log(f"encoding {len(names)} videos of {corpus.videos.path}{where}")
    emb = encode_corpus(model, corpus, names, {v: i for i, v in enumerate(names)}, batch_size, dist, precision)
    if cache is not None and key is not None and dist.is_main:
        atomic_torch_save({"key": key, "names": names, "frames": emb.frames.cpu(), "mask": emb.mask.cpu(),
                           "lengths": emb.lengths.cpu(), "official": torch.from_numpy(emb.official)}, cache)
    return emb


def cached_rows(cache: Path, key: str, names: list[str], video2idx: dict[str, int],
                device: torch.device) -> CorpusEmbeddings | None:
    """The embeddings of ``names`` (official ids from ``video2idx``) taken from a search cache that holds
    ``key`` and every one of ``names``; ``None`` when there is no such cache. Lets ``inf_vcmr.py`` skip the
    corpus encoding after a free-text search of the same checkpoint and dbs."""
    if not cache.is_file():
        return None
    saved = torch.load(cache, map_location="cpu", weights_only=True)
    row_of = {v: i for i, v in enumerate(saved.get("names", []))}
    if saved.get("key") != key or any(v not in row_of for v in names):
        return None
    rows = torch.tensor([row_of[v] for v in names], dtype=torch.long)
    lengths = saved["lengths"][rows]
    longest = int(lengths.max()) if len(names) else 0
    return CorpusEmbeddings(saved["frames"][rows, :longest].to(device), saved["mask"][rows, :longest].to(device),
                            lengths.to(device), np.array([video2idx[v] for v in names], dtype=np.int64))


class FreeTextSearch:
    """``moments(text, k)``: the top-k moments of the corpus for a free text.

    Args:
        model: a VCMR model (``encode_queries``, ``encode_videos`` and the span heads), in eval mode.
        corpus: the corpus the embeddings were made from (names and subtitles).
        names: the searched videos, in the order of ``embeddings``.
        embeddings: the encoded corpus (:func:`cached_corpus_embeddings`).
        decoding: span decoding options (the run's ``MomentEvalOptions``).
        tokenizer: the tokenizer of the subtitle db (queries are tokenised with the query rule).
        max_txt_len: query tokens kept.
    """

    def __init__(self, model: nn.Module, corpus: VideoCorpus, names: Sequence[str], embeddings: CorpusEmbeddings,
                 decoding: DecodeOptions, tokenizer: TextTokenizer, max_txt_len: int) -> None:
        self.model, self.corpus, self.names = model, corpus, list(names)
        self.scorer = MomentScorer(model, embeddings, decoding)
        self.tokenizer, self.max_txt_len = tokenizer, max_txt_len
        self.device = embeddings.frames.device

    @torch.no_grad()
    def moments(self, text: str, k: int = 10) -> list[Moment]:
        """Best first; at most ``k`` (and at most the decoding's ``max_after_nms``)."""
        tokens = self.tokenizer.encode_queries([text])[0][: self.max_txt_len]
        if not tokens:
            raise ValueError(f"the query {text!r} has no tokens")
        ids = self.corpus.token_ids
        batch = collate_queries([{"qid": "search", "ids": [ids.cls, *tokens], "vid": None, "span": (-1, -1),
                                  "seconds": (math.nan, math.nan)}], ids.pad).to(self.device)
        vectors = self.model.encode_queries(batch.queries)
        rows = self.scorer.decode(vectors, [None])[0].get("VCMR", np.zeros((0, 4)))
        return [Moment(self.names[int(r[0])], float(r[1]), float(r[2]), float(r[3])) for r in rows[:k]]


def format_moments(query: str, moments: list[Moment]) -> str:
    """A printable block: the query, then one line per moment (rank, video, start s, end s, score)."""
    width = max((len(m.video) for m in moments), default=0)
    lines = [f"query: {query}"]
    lines += [f"  {rank:>3}  {m.video:<{width}}  {m.start:9.2f} s  {m.end:9.2f} s  score {m.score:.4f}"
              for rank, m in enumerate(moments, 1)]
    return "\n".join(lines if moments else [*lines, "  (no moment)"])


def write_search_results(path: Path, results: list[tuple[str, list[Moment]]]) -> None:
    """``path`` (jsonl, atomically): per query ``{"query", "moments": [{"rank", "video", "start", "end",
    "score"}]}``."""
    atomic_write_text(path, "".join(json.dumps({"query": query, "moments": [
        {"rank": rank, "video": m.video, "start": m.start, "end": m.end, "score": m.score}
        for rank, m in enumerate(moments, 1)]}) + "\n" for query, moments in results))
