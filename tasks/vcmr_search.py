"""Free-text moment search with a VCMR config's corpus and checkpoint: ``inf_vcmr.py --query / --queries``
and the search box of ``scripts/view_results.py`` (the search itself is ``evaluation/free_text_search.py``)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from config.loader import section
from config.schema import MomentEvalOptions, VcmrConfig, VsmConfig
from data.prepro.tokenization import TextTokenizer
from evaluation.free_text_search import (
    FreeTextSearch,
    cached_corpus_embeddings,
    format_moments,
    write_search_results,
)
from evaluation.results import results_dir
from evaluation.vcmr_inference import DecodeOptions
from tasks.vcmr import CORPUS_CACHE, build_vcmr_model, corpus_cache_of, open_task_corpus
from utils.distributed import Distributed
from utils.precision import inference_precision

Log = Callable[[str], None]


def open_search(cfg: VcmrConfig | VsmConfig, dist: Distributed, log: Log, cache: Path | None,
                require_task_heads: bool = False) -> FreeTextSearch:
    """A searcher over ``cfg``'s corpus with ``cfg.checkpoint``; the corpus embeddings are read from / written
    to ``cache`` (not cached without a checkpoint: random weights differ from run to run)."""
    corpus = open_task_corpus(cfg)
    model = build_vcmr_model(cfg, corpus, dist, log, require_task_heads).eval()
    names = sorted(corpus.ids())
    precision = inference_precision(cfg.precision, dist.device, log)
    key = corpus_cache_of(cfg, model, precision)
    if key is None:
        log("warning: no --checkpoint: searching with randomly initialised weights")
    embeddings = cached_corpus_embeddings(model, corpus, names, cfg.vcmr_eval_video_batch_size, dist, cache, key, log,
                                          precision)
    decoding = DecodeOptions.from_config(section(cfg, MomentEvalOptions), corpus.frame_interval)
    tokenizer = TextTokenizer(corpus.subtitles.meta["tokenizer"]["path"])
    return FreeTextSearch(model, corpus, names, embeddings, decoding, tokenizer, cfg.max_txt_len)


def search_vcmr(cfg: VcmrConfig | VsmConfig, queries: list[str], queries_file: str | Path | None, top_k: int,
                dist: Distributed, log: Log) -> None:
    """``inf_vcmr.py --query / --queries``: the top ``top_k`` moments of each query (``queries``, then the lines
    of ``queries_file``), printed and written to ``output_dir/results_search/moments.jsonl``; the corpus
    embeddings are cached in ``output_dir/corpus_embeddings.pt``."""
    queries = [*queries, *(read_queries(queries_file) if queries_file else [])]
    if not queries or not all(q.strip() for q in queries):
        raise ValueError("a query is empty: give --query TEXT or --queries FILE with one query per line")
    if top_k < 1:
        raise ValueError(f"--top-k must be >= 1, got {top_k}")
    search = open_search(cfg, dist, log, Path(cfg.output_dir) / CORPUS_CACHE)
    results = [(query, search.moments(query, top_k)) for query in queries]
    if dist.is_main:
        for query, moments in results:
            log(format_moments(query, moments))
        out = results_dir(cfg.output_dir, "search") / "moments.jsonl"
        write_search_results(out, results)
        log(f"wrote {out} ({len(results)} queries)")


def add_search_flags(parser) -> None:
    """The free-text search flags of ``inf_vcmr.py`` and ``train_vsm.py`` (a searched run evaluates nothing)."""
    parser.add_argument("--query", action="append", default=[], metavar="TEXT",
                        help="free-text moment search instead of the split's evaluation (repeatable)")
    parser.add_argument("--queries", metavar="FILE", help="free-text moment search: one query per line")
    parser.add_argument("--top-k", type=int, default=10, help="moments per searched query (default 10)")


def wants_search(args) -> bool:
    return bool(args.query or args.queries)


def read_queries(path: str | Path) -> list[str]:
    """Non-blank lines of a queries file (``--queries``), stripped."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text (byte {error.start})") from None
    queries = [line.strip() for line in lines if line.strip()]
    if not queries:
        raise ValueError(f"{path}: no query (expected one query per line)")
    return queries
