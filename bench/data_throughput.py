#!/usr/bin/env python
"""Throughput of every task's data loader (read + sample + collate), with 0 and 2 DataLoader workers.

Corpora:
  demo          the demo corpus (built into a temp dir unless --demo DIR is given): 128-d features
  tv-synthetic  a TV-sized synthetic corpus written with the library's own builders: 4352-d features
                (stored fp16, as HERO's TV db), 75 frames per clip, ~15 subtitles of 5-20 tokens each,
                4 TVR-style queries and 3 TVQA-style questions per clip
Tasks and batch sizes (reference configs): mlm, mfm-nce, fom, vsm: 32 videos; vcmr: 32 queries;
videoqa: 4 questions. Each measurement skips the first batch (worker start-up), then times batches for
--seconds (at least 3). Prints a table; with --json the last line is one JSON object.

    python bench/data_throughput.py --json
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # the loaders fork after tokenising

import numpy as np  # noqa: E402
import torch  # noqa: E402

from data.dbs.corpus import VideoCorpus  # noqa: E402
from data.dbs.query_db import build_query_db  # noqa: E402
from data.dbs.subtitle_db import build_subtitle_db  # noqa: E402
from data.dbs.video_db import build_video_db  # noqa: E402
from data.loading.meta_loader import TaskStream  # noqa: E402
from data.loading.pretrain_datasets import FomDataset, MfmDataset, MlmDataset, VsmDataset  # noqa: E402
from data.loading.qa_datasets import VideoQaDataset  # noqa: E402
from data.loading.retrieval_datasets import VcmrDataset  # noqa: E402
from data.loading.sampling import KeyedDataset  # noqa: E402
from data.prepro.tokenization import TextTokenizer, as_tokenizer  # noqa: E402

TASKS = ("mlm", "mfm-nce", "fom", "vsm", "vcmr", "videoqa")
BATCH = {"mlm": 32, "mfm-nce": 32, "fom": 32, "vsm": 32, "vcmr": 32, "videoqa": 4}
UNIT = {"vcmr": "queries", "videoqa": "questions"}
FRAME_INTERVAL = 1.5


def word_list(toker: TextTokenizer, count: int = 3000) -> list[str]:
    """Whole-word vocabulary entries (one token each), so token counts are controlled by word counts."""
    vocab = sorted(toker.hf.get_vocab().items(), key=lambda kv: kv[1])
    return [w for w, i in vocab if i >= 2000 and w.isalpha() and w.isascii()][:count]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def build_tv_synthetic(out: Path, toker: TextTokenizer, clips: int, seed: int = 0) -> dict[str, Path]:
    """Write the synthetic TV-sized corpus: video db, subtitle db, TVR and TVQA query dbs."""
    rng = np.random.default_rng(seed)
    words = np.array(word_list(toker))
    frames, dim = 75, 4352
    duration = frames * FRAME_INTERVAL
    vids = [f"synthetic_clip_{i:04d}" for i in range(clips)]

    def text(low: int, high: int) -> str:
        return " ".join(rng.choice(words, size=int(rng.integers(low, high + 1))))

    subs, queries, questions = [], [], []
    for v, vid in enumerate(vids):
        n_subs = int(rng.integers(12, 19))
        starts = np.sort(rng.uniform(0, duration - 4, n_subs))
        subs.append({"vid_name": vid, "sub": [{"text": text(5, 20), "start": round(float(s), 2),
                                               "end": round(float(min(s + rng.uniform(2, 7), duration)), 2)}
                                              for s in starts]})
        for k in range(4):
            st = float(rng.uniform(0, duration - 10))
            queries.append({"desc_id": 4 * v + k, "vid_name": vid, "duration": duration, "type": "v",
                            "ts": [round(st, 2), round(st + float(rng.uniform(2, 10)), 2)], "desc": text(6, 15)})
        for k in range(3):
            st = float(rng.uniform(0, duration - 10))
            row = {f"a{i}": text(3, 8) for i in range(5)}
            row.update(qid=3 * v + k, q=text(6, 12), vid_name=vid, show_name="synthetic",
                       answer_idx=int(rng.integers(5)), ts=f"{st:.2f}-{st + float(rng.uniform(2, 10)):.2f}")
            questions.append(row)
    feats = ((vid, rng.standard_normal((frames, dim), dtype=np.float32)) for vid in vids)
    paths = {"video_db": out / "video_db", "subtitle_db": out / "subtitles.db", "tvr": out / "tvr.db",
             "tvqa": out / "tvqa.db"}
    build_video_db(feats, paths["video_db"], frame_interval=FRAME_INTERVAL, fp16=True)
    build_subtitle_db(write_jsonl(out / "subs.jsonl", subs), {v: frames for v in vids}, paths["subtitle_db"],
                      toker, frame_interval=FRAME_INTERVAL)
    build_query_db(write_jsonl(out / "tvr.jsonl", queries), "tvr", paths["tvr"], toker)
    build_query_db(write_jsonl(out / "tvqa.jsonl", questions), "tvqa", paths["tvqa"], toker)
    return paths


def task_datasets(corpus: VideoCorpus, tvr: Path | str, tvqa: Path | str) -> dict[str, Callable[[], KeyedDataset]]:
    """Builders of each task's training dataset."""
    return {"mlm": lambda: MlmDataset(corpus), "mfm-nce": lambda: MfmDataset(corpus), "fom": lambda: FomDataset(corpus),
            "vsm": lambda: VsmDataset(corpus), "vcmr": lambda: VcmrDataset(corpus, tvr),
            "videoqa": lambda: VideoQaDataset(corpus, tvqa)}


def measure(dataset: KeyedDataset, batch_size: int, workers: int, seconds: float) -> dict[str, float]:
    """Items/s and batches/s of a TaskStream after its first batch; first-batch latency."""
    stream = TaskStream(dataset, batch_size, seed=0, num_workers=workers)
    t0 = time.perf_counter()
    next(stream)
    first = time.perf_counter() - t0
    count, t0 = 0, time.perf_counter()
    while count < 3 or time.perf_counter() - t0 < seconds:
        next(stream)
        count += 1
    elapsed = time.perf_counter() - t0
    stream.close()
    gc.collect()  # make sure the persistent workers of this stream are gone before the next measurement
    return {"items_per_s": round(count * batch_size / elapsed, 1), "batches_per_s": round(count / elapsed, 2),
            "first_batch_s": round(first, 3), "batches": count}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", type=Path, default=None, help="existing demo corpus folder (default: build one)")
    parser.add_argument("--clips", type=int, default=256, help="clips of the synthetic TV-sized corpus")
    parser.add_argument("--seconds", type=float, default=1.5, help="timed seconds per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads of the main process (default: torch's; workers use 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.time()
    toker = as_tokenizer(None)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hero_bench_") as tmp:
        corpora: dict[str, dict[str, Callable[[], KeyedDataset]]] = {}
        demo = args.demo
        if demo is None:
            from data.demo.world import build_demo_corpus
            demo = Path(tmp) / "demo"
            build_demo_corpus(demo, tokenizer=toker, log=lambda m: None)
        from data.demo.world import resolve_manifest
        manifest = resolve_manifest(demo)
        tv = manifest["corpora"]["tv"]
        corpora["demo"] = task_datasets(VideoCorpus(tv["subtitle_db"], tv["video_db"]),
                                        manifest["tasks"]["tvr"]["train"], manifest["tasks"]["tvqa"]["train"])
        t0 = time.time()
        paths = build_tv_synthetic(Path(tmp) / "tv_synthetic", toker, args.clips)
        build_s = time.time() - t0
        corpora["tv-synthetic"] = task_datasets(VideoCorpus(paths["subtitle_db"], paths["video_db"]),
                                                paths["tvr"], paths["tvqa"])
        print(f"built tv-synthetic ({args.clips} clips x 75 frames x 4352-d) in {build_s:.1f}s", file=sys.stderr)
        header = (f"{'corpus':<13} {'task':<8} {'batch':>5} {'workers':>7} {'items/s':>9} {'batches/s':>9} "
                  f"{'first(s)':>8}")
        print(header)
        print("-" * len(header))
        for corpus_name, builders in corpora.items():
            for task in args.tasks:
                dataset = builders[task]()
                for workers in args.workers:
                    r = measure(dataset, BATCH[task], workers, args.seconds)
                    r.update(batch_size=BATCH[task], unit=UNIT.get(task, "videos"))
                    results[f"{corpus_name}/{task}/w{workers}"] = r
                    print(f"{corpus_name:<13} {task:<8} {BATCH[task]:>5} {workers:>7} {r['items_per_s']:>9.1f} "
                          f"{r['batches_per_s']:>9.2f} {r['first_batch_s']:>8.2f}", flush=True)
    total = time.time() - t_start
    print(f"items = videos (pre-training), queries (vcmr), questions (videoqa); total {total:.0f}s on "
          f"{os.cpu_count()} CPUs, {torch.get_num_threads()} main-process threads")
    if args.json:
        print(json.dumps({"results": results, "total_s": round(total, 1), "cpus": os.cpu_count(),
                          "threads": torch.get_num_threads()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
