#!/usr/bin/env python
"""MSSM against BERT masking on the demo corpus: how many of the masked positions are significant words.

For each corpus (tv, how2) it builds the MLM examples of every video with ``mlm_masking`` random and
significant (same seeds) and prints: the share of significant-word pieces among all subtitle pieces, the
share of significant pieces among the masked positions for each policy, and masked positions per piece.
The significant-word table is ``significant_words.json`` in each subtitle db (mined when missing, as a demo
run does).

    python bench/mssm_share.py --demo demo_data
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.dbs.corpus import VideoCorpus  # noqa: E402
from data.loading.pretrain_datasets import MlmDataset  # noqa: E402
from data.loading.significant_words import SignificantWords  # noqa: E402
from data.prepro.significant_words import TABLE_FILE, table_for_dbs  # noqa: E402


def shares(dataset: MlmDataset, words: SignificantWords) -> tuple[float, float, float]:
    """(significant share of all pieces, significant share of masked positions, masked per piece)."""
    pieces = significant = masked = masked_significant = 0
    for index in range(len(dataset)):
        for example in dataset.example(index, np.random.default_rng(index)):
            ids, labels = np.array(example.input_ids[1:]), np.array(example.labels[1:])  # without [CLS]
            original = np.where(labels >= 0, labels, ids)
            inside, _ = words.significant(original, np.array([len(original)]))
            chosen = labels >= 0
            pieces, significant = pieces + len(original), significant + int(inside.sum())
            masked, masked_significant = masked + int(chosen.sum()), masked_significant + int(inside[chosen].sum())
    return significant / pieces, masked_significant / masked, masked / pieces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", default="demo_data", help="demo corpus folder (scripts/make_demo_corpus.py)")
    args = parser.parse_args()
    manifest = json.loads((Path(args.demo) / "manifest.json").read_text())
    results = {}
    for name, paths in manifest["corpora"].items():
        subtitle_db = Path(args.demo) / paths["subtitle_db"]
        corpus = VideoCorpus(subtitle_db, Path(args.demo) / paths["video_db"])
        table_path = subtitle_db / TABLE_FILE
        if not table_path.is_file():
            tokenizer = corpus.subtitles.meta["tokenizer"]["path"]
            table_path.write_text(json.dumps(table_for_dbs([str(subtitle_db)], tokenizer)))
        words = SignificantWords.load(table_path, corpus.token_ids, corpus.subtitles.meta)
        base, random_share, random_rate = shares(MlmDataset(corpus, seed=5), words)
        _, mssm_share, mssm_rate = shares(MlmDataset(corpus, seed=5, significant_words=words), words)
        results[name] = {"significant_share_of_pieces": base, "random": {"significant_share_of_masked": random_share,
                                                                        "masked_per_piece": random_rate},
                         "significant": {"significant_share_of_masked": mssm_share, "masked_per_piece": mssm_rate}}
        print(f"{name}: {words.num_words} significant words; {base:.1%} of subtitle pieces are significant | "
              f"random masking: {random_share:.1%} of masked positions significant ({random_rate:.3f} masked/piece) | "
              f"MSSM: {mssm_share:.1%} ({mssm_rate:.3f} masked/piece)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
