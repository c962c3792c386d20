"""Significant words at run time: MSSM masking and LVWM word choice (SNP-S3, lfvila-snps3.md §2.2–2.3).

:class:`SignificantWords` reads the table of ``scripts/mine_significant_words.py`` and finds, for a batch
of token sequences at once, the pieces that belong to a significant word (whole words: a word's pieces are
all significant or none is). Everything is vectorised over the concatenated tokens of all sequences.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from data.dbs.corpus import TokenIds
from data.prepro.significant_words import MAX_WORD_PIECES, TABLE_FORMAT, TABLE_VERSION, word_starts

_KEY_BITS = 21  # 3 pieces × 21 bits of (id + 1) fit an int64


class SignificantWords:
    """The significant-word table of one tokenizer.

    Args:
        table: the JSON body written by the mining script.
        where: the file it came from (for error messages).
    """

    def __init__(self, table: dict[str, Any], where: str = "significant-word table") -> None:
        if table.get("format") != TABLE_FORMAT or table.get("version") != TABLE_VERSION:
            raise ValueError(f"{where}: not a {TABLE_FORMAT} v{TABLE_VERSION} table; rebuild it with "
                             "scripts/mine_significant_words.py")
        self.where = where
        self.fingerprint = table.get("tokenizer", {}).get("vocab_fingerprint")
        self.flags = np.frombuffer(table["piece_flags"].encode("ascii"), dtype=np.uint8) - ord("0")
        if len(self.flags) >= 2 ** _KEY_BITS - 1:
            raise ValueError(f"{where}: vocabularies of ≥ 2^{_KEY_BITS} pieces are not supported")
        spellings = [tuple(p) for w in table["words"] for p in w["pieces"] if 0 < len(p) <= MAX_WORD_PIECES]
        self.keys = np.unique(np.array([_pack(p) for p in spellings], dtype=np.int64))
        # MSSM's random replacement draws single-piece significant words (SNP-S3 draws a top-K word)
        self.replacement_ids = np.unique(np.array([p[0] for p in spellings if len(p) == 1], dtype=np.int64))
        self.num_words = len(table["words"])

    @classmethod
    def load(cls, path: str | Path, token_ids: TokenIds | None = None,
             db_meta: dict[str, Any] | None = None) -> SignificantWords:
        """Read a table file; with ``db_meta``, check it was mined with the db's tokenizer."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"significant-word table {path} not found; build it with "
                                    f"scripts/mine_significant_words.py SUBTITLE_DB [QUERY_DBS] --tokenizer DIR")
        try:
            table = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: not a JSON significant-word table ({error})") from None
        words = cls(table, str(path))
        theirs = (db_meta or {}).get("tokenizer", {}).get("vocab_fingerprint")
        if theirs and words.fingerprint and theirs != words.fingerprint:
            raise ValueError(f"{path} was mined with another vocabulary ({words.fingerprint}) than the db "
                             f"({theirs}); re-run scripts/mine_significant_words.py with the db's tokenizer")
        if token_ids is not None and len(words.flags) > token_ids.vocab_size:
            raise ValueError(f"{path}: table covers {len(words.flags)} pieces, the db's vocabulary "
                             f"{token_ids.vocab_size}")
        return words

    def word_starts(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """(N,) bool: pieces that start a word in the concatenated sequences."""
        flags = self.flags
        if len(tokens) and int(tokens.max()) >= len(flags):
            flags = np.concatenate([flags, np.zeros(int(tokens.max()) + 1 - len(flags), np.uint8)])
        return word_starts(tokens, lengths, flags)

    def significant(self, tokens: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which pieces belong to a significant word, and which start one.

        Args:
            tokens: (N,) int64, all sequences concatenated (no special tokens); lengths: (S,).

        Returns:
            ``(in_significant_word, starts_significant_word)``, both (N,) bool.
        """
        tokens = np.asarray(tokens, dtype=np.int64)
        starts = self.word_starts(tokens, lengths)
        word = np.cumsum(starts) - 1  # (N,) word index of every piece
        num_words = int(word[-1]) + 1 if len(word) else 0
        first = np.flatnonzero(starts)
        rank = np.arange(len(tokens)) - first[word]  # piece index inside its word
        pieces = np.bincount(word, minlength=num_words)
        key = np.zeros(num_words, dtype=np.int64)
        for r in range(MAX_WORD_PIECES):  # one vectorised pass per piece rank
            at = rank == r
            key[word[at]] |= (tokens[at] + 1) << (_KEY_BITS * r)
        is_significant = np.isin(key, self.keys) & (pieces <= MAX_WORD_PIECES)
        return is_significant[word], is_significant[word] & starts


def mssm_budget(lengths: np.ndarray, mask_prob: float = 0.15) -> np.ndarray:
    """SNP-S3's per-sequence mask count: ⌊p·L⌋ + (frac(p·L) ≥ 0.3), at least 1 for non-empty sequences
    (HERO forces one target per subtitle too)."""
    scaled = mask_prob * np.asarray(lengths, dtype=np.float64)
    budget = np.floor(scaled).astype(np.int64) + (scaled - np.floor(scaled) >= 0.3 - 1e-12)
    return np.where(lengths > 0, np.maximum(budget, 1), 0)


def mssm_mask_tokens(tokens: np.ndarray, lengths: np.ndarray, rng: np.random.Generator, mask_prob: float,
                     ids: TokenIds, words: SignificantWords) -> tuple[np.ndarray, np.ndarray]:
    """MSSM masking of several sequences at once (SNP-S3 ``_random_word_IW_MLM``).

    Each sequence masks exactly :func:`mssm_budget` positions, drawn uniformly among its significant-word
    pieces first and among the other pieces only when those run out. A chosen piece becomes ``[MASK]``
    (80 %), a random single-piece significant word (10 %; a random id of ``ids.word_range`` when the table
    has none) or stays (10 %).

    Returns:
        ``(inputs, labels)`` flat like ``tokens``; ``labels`` = original id where chosen, −1 elsewhere.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    num = len(tokens)
    significant, _ = words.significant(tokens, lengths)
    sequence = np.repeat(np.arange(len(lengths)), lengths)
    # Sort key: significant pieces (in [0, 1)) before the others (in [1, 2)), random order inside each.
    priority = rng.random(num) + (~significant)
    order = np.lexsort((priority, sequence))
    starts = np.cumsum(lengths) - lengths
    rank = np.empty(num, dtype=np.int64)
    rank[order] = np.arange(num) - starts[sequence[order]]
    chosen = rank < mssm_budget(lengths, mask_prob)[sequence]
    action = rng.random(num)
    inputs = tokens.copy()
    inputs[chosen & (action < 0.8)] = ids.mask
    replace = chosen & (action >= 0.8) & (action < 0.9)
    pool = words.replacement_ids
    inputs[replace] = (pool[rng.integers(len(pool), size=int(replace.sum()))] if len(pool)
                       else rng.integers(*ids.word_range, size=int(replace.sum())))
    return inputs, np.where(chosen, tokens, -1)


def choose_word_positions(tokens: np.ndarray, lengths: np.ndarray, rng: np.random.Generator,
                          words: SignificantWords, per_sequence: int = 3) -> np.ndarray:
    """LVWM's word choice (SNP-S3 ``VWM_get_cap_input``): ``per_sequence`` positions per sequence.

    Candidates are the first pieces of the sequence's significant words; with more, a random subset; with
    fewer, repeated (cycled); with none, any piece of the sequence. Sequences must be non-empty.

    Returns:
        (S, per_sequence) int64 positions inside each sequence (0 = its first token).
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    if (np.asarray(lengths) < 1).any():
        raise ValueError("choose_word_positions needs non-empty sequences")
    _, candidate = words.significant(tokens, lengths)
    sequence = np.repeat(np.arange(len(lengths)), lengths)
    has_any = np.bincount(sequence[candidate], minlength=len(lengths)) > 0
    candidate |= ~has_any[sequence]  # fall back to every piece
    starts = np.cumsum(lengths) - lengths
    position = np.arange(len(tokens)) - starts[sequence]
    # Random order of each sequence's candidates, candidates first.
    order = np.lexsort((rng.random(len(tokens)) + (~candidate), sequence))
    counts = np.bincount(sequence[candidate], minlength=len(lengths))  # (S,) ≥ 1
    slot = np.arange(per_sequence)[None] % counts[:, None]  # cycle when fewer than per_sequence
    return position[order[starts[:, None] + slot]]


def _pack(pieces: tuple[int, ...]) -> int:
    return sum((int(p) + 1) << (_KEY_BITS * r) for r, p in enumerate(pieces))
