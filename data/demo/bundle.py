"""Select the annotation subset bundled in ``data/demo/`` from the full public annotation files.

The bundle is committed, so users never need this; it documents (and can redo) how the subset was
chosen: ``python scripts/make_demo_corpus.py --rebuild-bundle /path/to/annotations``.

Selection (deterministic: clips are ranked by the SHA-1 of their name, no RNG state involved):
- TV: ``n_tvqa_clips`` clips of TVQA+ val (all are TVR val clips) with every TVR query and TVQA+
  question on them, plus ``n_other_tv_clips`` TVR val clips of the other shows with their TVR queries;
- How2: ``n_how2_clips`` 60 s clips that have ≥ 2 How2R train queries and ≥ 1 How2QA val question (the
  How2QA clip is derived from the span as in :func:`data.annotations.parse_how2qa`), with all of them; the
  default takes every such clip (577), so the demo's How2R val split has about 100 queries.
TVQA+ ``bbox`` annotations are dropped (they are most of the file and HERO does not use them).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

from data.prepro.annotations import BadInputPolicy, iter_csv, parse_how2qa, parse_how2r

DEMO_DIR = Path(__file__).resolve().parent  # the bundled annotation files sit beside this module
BUNDLE_FILES = {
    "tvr": "tvr_val_subset.jsonl",
    "tvqa_plus": "tvqa_plus_val_subset.json",
    "how2r": "how2r_train_subset.csv",
    "how2qa": "how2qa_val_subset.csv",
}
SOURCE_FILES = {
    "tvr": "tvr_val_release.jsonl",
    "tvqa_plus": "tvqa_plus_val.json",
    "how2r": "how2R_train_release.csv",
    "how2qa": "how2QA_val_release.csv",
}


def _rank(name: str) -> str:
    return hashlib.sha1(name.encode("utf-8")).hexdigest()


def make_bundle(
    src_dir: str | Path,
    out_dir: str | Path = DEMO_DIR,
    n_tvqa_clips: int = 200,
    n_other_tv_clips: int = 200,
    n_how2_clips: int = 600,
) -> dict[str, int]:
    """Write the subset files into ``out_dir``; returns record counts per file."""
    src, out = Path(src_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    strict = BadInputPolicy(skip=False)

    # TV: TVQA+ clips first (they also carry TVR queries), then other shows
    tvr_lines = [ln for ln in (src / SOURCE_FILES["tvr"]).read_text(encoding="utf-8").splitlines() if ln.strip()]
    tvr = [json.loads(ln) for ln in tvr_lines]
    tvqa_plus = json.loads((src / SOURCE_FILES["tvqa_plus"]).read_text(encoding="utf-8"))
    qa_clips = sorted({q["vid_name"] for q in tvqa_plus}, key=_rank)[:n_tvqa_clips]
    qa_set = set(qa_clips)
    others = sorted({r["vid_name"] for r in tvr if r["vid_name"] not in qa_set and r["vid_name"][0] != "s"},
                    key=_rank)[:n_other_tv_clips]
    tv_set = qa_set | set(others)
    kept_tvr = [ln for ln, r in zip(tvr_lines, tvr) if r["vid_name"] in tv_set]
    (out / BUNDLE_FILES["tvr"]).write_text("\n".join(kept_tvr) + "\n", encoding="utf-8")
    kept_qa = [{k: v for k, v in q.items() if k != "bbox"} for q in tvqa_plus if q["vid_name"] in qa_set]
    with open(out / BUNDLE_FILES["tvqa_plus"], "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(q, ensure_ascii=False) for q in kept_qa) + "\n]\n")

    # How2: clips with ≥ 2 How2R train queries and a How2QA val question
    h2r = {where: rec for where, rec in parse_how2r(src / SOURCE_FILES["how2r"], strict)}
    h2qa = {where: rec for where, rec in parse_how2qa(src / SOURCE_FILES["how2qa"], strict)}
    n_queries = Counter(r["vid_name"] for r in h2r.values())
    qa_vids = {r["vid_name"] for r in h2qa.values()}
    how2_set = set(sorted((v for v in qa_vids if n_queries[v] >= 2), key=_rank)[:n_how2_clips])
    counts = {"tv_clips": len(tv_set), "tvr": len(kept_tvr), "tvqa_plus": len(kept_qa), "how2_clips": len(how2_set)}
    for fmt, table in (("how2r", h2r), ("how2qa", h2qa)):
        rows = [row for _, where, row in iter_csv(src / SOURCE_FILES[fmt])
                if where in table and table[where]["vid_name"] in how2_set]
        with open(out / BUNDLE_FILES[fmt], "w", encoding="utf-8", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)
        counts[fmt] = len(rows)
    return counts
