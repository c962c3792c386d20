"""The significant-word table a pre-training target needs (MSSM masking, LVWM), opened once at start."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from data.dbs.corpus import VideoCorpus
from data.loading.significant_words import SignificantWords
from data.prepro.significant_words import TABLE_FILE, table_for_dbs
from tasks.setup import SetupError
from utils.atomic_io import atomic_write_text
from utils.distributed import Distributed


def open_significant_words(corpus: VideoCorpus, table_path: str | None, demo: bool, dist: Distributed,
                           log: Callable[[str], None], where: str) -> SignificantWords:
    """The table at ``table_path`` (default: ``significant_words.json`` inside the subtitle db).

    A demo run (``demo_corpus`` set) mines a missing default table from the subtitle db with the db's own
    tokenizer (rank 0 writes it, the others wait); any other run stops with the command that builds it.
    """
    path = Path(table_path) if table_path else Path(corpus.subtitles.path) / TABLE_FILE
    if not path.is_file() and demo and not table_path:
        if dist.is_main:
            tokenizer = corpus.subtitles.meta.get("tokenizer", {}).get("path")
            log(f"{where}significant-word table missing: mining it into {path}")
            table = table_for_dbs([str(corpus.subtitles.path)], tokenizer, top=3000)
            atomic_write_text(path, json.dumps(table, ensure_ascii=False))
        dist.barrier()
    try:
        words = SignificantWords.load(path, corpus.token_ids, corpus.subtitles.meta)
    except (OSError, ValueError) as error:
        raise SetupError(f"{where}{error}") from None
    log(f"{where}{words.num_words} significant words from {path}")
    return words
