"""Significant-word mining: whole words for WordPiece (the real MiniLM tokenizer) and byte-level BPE (a tiny
tokenizer trained here with the `tokenizers` library), the fallback POS rule, and the mining script."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data.prepro.significant_words import (
    FALLBACK_TAGGER,
    fallback_is_content_word,
    mine_significant_words,
    piece_flags,
    word_starts,
)
from tests.data.data_helpers import REPO, tokenizer

BPE_TRAINING = ["the cat sat on the mat", "a dog runs in the park", "the man walks to the door",
                "she opens the window", "they eat pizza at the table"] * 5


@pytest.fixture(scope="module")
def bpe():
    """A byte-level BPE tokenizer (RoBERTa-style space marker Ġ) trained on a few sentences: unseen words
    split into several pieces."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.post_processor = processors.ByteLevel(trim_offsets=True)
    raw.train_from_iterator(BPE_TRAINING, trainers.BpeTrainer(
        vocab_size=320, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>", mask_token="<mask>", cls_token="<s>", sep_token="</s>")


def segment(hf, text):
    """Words of ``text`` as the table sees them: surface strings and piece ids."""
    encoded = hf(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
    flags = piece_flags(hf.get_vocab(), type(hf.backend_tokenizer.model).__name__)
    starts = np.flatnonzero(word_starts(np.array(ids), np.array([len(ids)]), flags)).tolist()
    ends = starts[1:] + [len(ids)]
    return [(text[offsets[a][0]:offsets[b - 1][1]].strip(), ids[a:b]) for a, b in zip(starts, ends)]


def test_wordpiece_whole_words():
    hf = tokenizer().hf
    words = segment(hf, "He pours the coffee, then skateboarding!")
    assert [w for w, _ in words] == ["He", "pours", "the", "coffee", ",", "then", "skateboarding", "!"]
    pours = dict(words)["pours"]
    assert hf.convert_ids_to_tokens(pours) == ["pour", "##s"]  # two pieces, one word


def test_bpe_whole_words(bpe):
    text = "skateboarding dogs, the cat: skateboarding"
    words = segment(bpe, text)
    assert [w for w, _ in words] == re.findall(r"\w+|[^\w\s]", text)  # punctuation is its own word
    first, last = dict(words[:1])["skateboarding"], words[-1][1]
    assert len(first) > 1 and len(last) > 1  # unseen word: several pieces
    assert first != last  # BPE spells a word differently at the start of a text and after a space
    assert bpe.convert_ids_to_tokens(last)[0].startswith("Ġ")


def test_bpe_mining_merges_spellings(bpe):
    texts = ["tables, dogs and cats", "the dogs sat at the tables", "cats runs"]
    table = mine_significant_words(texts, bpe, top=10)
    assert [(w["word"], w["count"]) for w in table["words"]] == [("cats", 2), ("dogs", 2), ("runs", 1), ("sat", 1),
                                                                  ("tables", 1)]
    # "tables" opening a text splits into 4 pieces (t ab le s): left out, counted as dropped
    assert table["dropped"]["occurrences_over_3_pieces"] == 1
    cats = table["words"][0]["pieces"]
    assert sorted(bpe.convert_ids_to_tokens(p) for p in cats) == [["cat", "s"], ["Ġcat", "s"]]
    assert table["tokenizer_model"] == "BPE"


def test_fallback_rule():
    content = ["table", "walks", "ugly", "family", "happy", "running"]
    other = ["the", "is", "was", "quickly", "really", "a", "7", "don't", "x", "nine", "hello"]
    assert [fallback_is_content_word(w) for w in content] == [True] * len(content)
    assert [fallback_is_content_word(w) for w in other] == [False] * len(other)


def test_wordpiece_mining_counts_and_ranks():
    texts = ["The man walks to the door.", "A man opens the door quickly.", "Ross walks in. Ross sits.",
             "Then Ross pours coffee."]
    table = mine_significant_words(texts, tokenizer().hf, top=4)
    # man 2, walks 2, door 2, opens 1, sits 1, pours 1, coffee 1; "Ross" is capitalised mid-sentence → proper
    assert [(w["word"], w["count"]) for w in table["words"]] == [("door", 2), ("man", 2), ("walks", 2),
                                                                  ("coffee", 1)]
    assert table["dropped"]["proper_nouns"] == 1
    assert len(table["piece_flags"]) == len(tokenizer().hf.get_vocab())


def test_script_writes_table_beside_the_db(demo_manifest, tmp_path):
    subtitle_db = demo_manifest["corpora"]["tv"]["subtitle_db"]
    query_db = demo_manifest["tasks"]["tvr"]["train"]
    out = tmp_path / "table.json"
    result = subprocess.run([sys.executable, "scripts/mine_significant_words.py", str(subtitle_db), str(query_db),
                             "--tokenizer", str(tokenizer().path), "--top", "50", "--output", str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    table = json.loads(out.read_text())
    assert len(table["words"]) == 50 and table["pos_tagger"] == FALLBACK_TAGGER
    assert table["tokenizer"]["vocab_fingerprint"] == tokenizer().vocab_fingerprint()
    counts = [w["count"] for w in table["words"]]
    assert counts == sorted(counts, reverse=True) and all(fallback_is_content_word(w["word"]) for w in table["words"])


def test_script_refuses_another_tokenizer(demo_manifest, bpe, tmp_path):
    bpe.save_pretrained(tmp_path / "bpe")
    subtitle_db = demo_manifest["corpora"]["tv"]["subtitle_db"]
    result = subprocess.run([sys.executable, "scripts/mine_significant_words.py", str(subtitle_db),
                             "--tokenizer", str(tmp_path / "bpe")], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "another vocabulary" in result.stderr
    assert not (Path(subtitle_db) / "significant_words.json").exists()
