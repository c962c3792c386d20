"""Mining the significant-word table of MSSM / LVWM (SNP-S3, lfvila-snps3.md §2.2) for one tokenizer.

A word is *significant* when it is one of the ``top`` most frequent noun / verb / adjective words of the
subtitle and query texts. Counting is per **whole word** as the tokenizer splits it, so the table matches
what the run-time code sees in a token sequence (:mod:`data.loading.significant_words`):

- word boundaries come from per-piece flags (:func:`piece_flags`): a WordPiece ``##`` piece continues the
  previous word; a byte-level BPE piece without the space marker (``Ġ`` / ``▁``) that starts with a letter or
  digit continues the previous piece when that one ends with a letter or digit (so ``hello,`` is two words,
  ``skate`` + ``boarding`` one; a bare marker piece ``Ġ`` joins the piece after it); the first piece of a
  text always starts a word;
- each word is stored with every token-id tuple seen for it (BPE spells a word differently at the start of a
  text and after a space); words of more than :data:`MAX_WORD_PIECES` pieces are left out.

POS tagging: spaCy ``en_core_web_sm`` when it is installed (NOUN, VERB, ADJ, as SNP-S3), otherwise the
**fallback rule** :func:`fallback_is_content_word`: an alphabetic word of ≥ 2 letters that is not a
closed-class word (determiners, pronouns, prepositions, conjunctions, auxiliaries and copulas, modals,
frequent adverbs, interjections, number words), not an ``-ly`` adverb, and not a proper noun (written with a
capital letter in most of its occurrences that do not start a sentence). SNP-S3 also drops copulas and
one-character tokens; both are in the rule.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

TABLE_FORMAT = "hero-significant-words"
TABLE_VERSION = 1
TABLE_FILE = "significant_words.json"  # stored beside (inside) the subtitle db folder
MAX_WORD_PIECES = 3  # run-time keys pack up to 3 piece ids into one int64
FALLBACK_TAGGER = "fallback-closed-class-v1"
SPACY_TAGS = ("NOUN", "VERB", "ADJ")

# Piece flags (bits), one per vocabulary id.
CONTINUES_ALWAYS = 1        # WordPiece "##" piece
CONTINUES_AFTER_ALNUM = 2   # BPE piece without space marker starting with a letter/digit
ENDS_ALNUM = 4              # piece ends with a letter/digit

CLOSED_CLASS = frozenset("""
a an the this that these those some any no every each either neither all both half several such what which
whose whatever whichever i me my mine myself you your yours yourself yourselves he him his himself she her
hers herself it its itself we us our ours ourselves they them their theirs themselves one ones someone
somebody something anyone anybody anything everyone everybody everything nobody nothing none who whom
whoever where when why how there here then than
about above across after against along among around at before behind below beneath beside besides between
beyond by down during except for from in inside into like near of off on onto out outside over past since
through throughout till to toward towards under underneath until up upon with within without via per
and or but nor so yet because although though while whereas if unless whether as also
be am is are was were been being 's 're 'm isn aren wasn weren
do does did done doing don doesn didn have has had having haven hasn hadn
will would shall should can could may might must ought won wouldn shouldn couldn cannot can't
not never very too just only even still already again ever quite rather almost really maybe perhaps
now soon later today tonight yesterday tomorrow always often sometimes usually away back else
yes yeah no nope okay ok oh ah uh um hmm hey hi hello bye well wow huh please thanks
zero two three four five six seven eight nine ten eleven twelve hundred thousand million first second third
gonna wanna gotta let lets let's ll ve re didn't don't doesn't isn't aren't wasn't weren't won't
""".split())
# Nouns and adjectives that end in "-ly" but are not adverbs.
LY_CONTENT_WORDS = frozenset("""
family belly jelly bully rally reply supply assembly ally lily holly fly ugly holy silly lovely friendly
lonely early daily weekly monthly likely curly jolly melancholy butterfly monopoly anomaly homily
""".split())
_ALPHA = re.compile(r"^[a-z]+$")
_SENTENCE_END = re.compile(r"[.!?]\s*$")


def fallback_is_content_word(word: str) -> bool:
    """The fallback POS rule on a lower-cased word (proper nouns are filtered later, from capitalisation)."""
    if len(word) < 2 or not _ALPHA.match(word) or word in CLOSED_CLASS:
        return False
    return not (word.endswith("ly") and len(word) > 4 and word not in LY_CONTENT_WORDS)


def piece_flags(vocab: dict[str, int], model_type: str) -> np.ndarray:
    """(V,) uint8 flags of every vocabulary piece (see the module docstring).

    Args:
        vocab: piece → id of the tokenizer.
        model_type: the fast tokenizer's model class name: ``WordPiece`` or ``BPE`` (``Unigram`` is
            handled like BPE with the ``▁`` marker).
    """
    if model_type not in ("WordPiece", "BPE", "Unigram"):
        raise ValueError(f"unsupported tokenizer model {model_type!r}: expected WordPiece, BPE or Unigram")
    flags = np.zeros(max(vocab.values()) + 1, dtype=np.uint8)
    for piece, index in vocab.items():
        if model_type == "WordPiece":
            continuation = piece.startswith("##") and len(piece) > 2
            body = piece[2:] if continuation else piece
            flags[index] = CONTINUES_ALWAYS if continuation else 0
        else:
            body = piece.lstrip("Ġ▁")
            if body == piece and body[:1].isalnum():
                flags[index] = CONTINUES_AFTER_ALNUM
        # A bare space marker (BPE "Ġ" before an unmerged word) opens a word that the next piece continues.
        if body[-1:].isalnum() or (model_type != "WordPiece" and piece and not body):
            flags[index] |= ENDS_ALNUM
    return flags


def word_starts(tokens: np.ndarray, lengths: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """(N,) bool: which pieces of the concatenated sequences start a word (first piece of each always)."""
    piece = flags[tokens]
    previous_ends_alnum = np.zeros(len(tokens), dtype=bool)
    previous_ends_alnum[1:] = (piece[:-1] & ENDS_ALNUM) != 0
    continues = ((piece & CONTINUES_ALWAYS) != 0) | (((piece & CONTINUES_AFTER_ALNUM) != 0) & previous_ends_alnum)
    starts = np.cumsum(lengths) - lengths
    continues[starts[lengths > 0]] = False
    return ~continues


def _tokenizer_model_type(hf: Any) -> str:
    backend = getattr(hf, "backend_tokenizer", None)
    if backend is None:
        raise ValueError("significant-word mining needs a fast (Rust) Hugging Face tokenizer with offsets")
    return type(backend.model).__name__


def spacy_tagger() -> Callable[[list[str]], list[list[tuple[int, str]]]] | None:
    """``en_core_web_sm`` as ``texts → [(char start, POS), ...]`` per text, or None when unavailable."""
    try:
        import spacy  # optional: not a requirement of the library
        nlp = spacy.load("en_core_web_sm", disable=["parser", "ner", "lemmatizer"])
    except (ImportError, OSError):
        return None
    return lambda texts: [[(t.idx, t.pos_) for t in doc] for doc in nlp.pipe(texts, batch_size=256)]


def mine_significant_words(texts: Sequence[str], hf_tokenizer: Any, top: int = 3000,
                           tagger: Callable[[list[str]], list[list[tuple[int, str]]]] | None = None,
                           ) -> dict[str, Any]:
    """Count content words over ``texts`` (already normalised by HERO's text rule) and keep the ``top``.

    Args:
        texts: subtitle and query texts.
        hf_tokenizer: the fast Hugging Face tokenizer the dbs were built with.
        top: table size (SNP-S3's ``words_top_k``).
        tagger: spaCy-like tagger (see :func:`spacy_tagger`); None = the fallback rule.

    Returns:
        The table body: ``piece_flags`` (digit string, one per vocabulary id), ``words`` (ranked, each with
        ``word``, ``count`` and ``pieces``: the token-id tuples seen for it), and counts of what was dropped.
    """
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    model_type = _tokenizer_model_type(hf_tokenizer)
    flags = piece_flags(hf_tokenizer.get_vocab(), model_type)
    texts = [t for t in texts if t.strip()]
    encoded = hf_tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True,
                           return_attention_mask=False, verbose=False) if texts else {"input_ids": [],
                                                                                     "offset_mapping": []}
    tags = tagger(list(texts)) if tagger is not None else None
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[tuple[int, ...]]] = defaultdict(Counter)
    mid_sentence, capitalised = Counter(), Counter()  # fallback proper-noun filter
    too_long = 0
    for i, (text, ids, offsets) in enumerate(zip(texts, encoded["input_ids"], encoded["offset_mapping"])):
        if not ids:
            continue
        ids_array = np.asarray(ids, dtype=np.int64)
        starts = np.flatnonzero(word_starts(ids_array, np.array([len(ids)]), flags))
        ends = np.append(starts[1:], len(ids))
        tag_at = dict(tags[i]) if tags is not None else None
        for a, b in zip(starts.tolist(), ends.tolist()):
            first, last = offsets[a][0], offsets[b - 1][1]
            surface = text[first:last].strip()
            word = surface.lower()
            if tag_at is not None:
                if tag_at.get(first) not in SPACY_TAGS and tag_at.get(first + 1) not in SPACY_TAGS:
                    continue
            elif not fallback_is_content_word(word):
                continue
            if b - a > MAX_WORD_PIECES:
                too_long += 1
                continue
            counts[word] += 1
            spellings[word][tuple(ids[a:b])] += 1
            if tag_at is None and first > 0 and not _SENTENCE_END.search(text[:first]):
                mid_sentence[word] += 1
                capitalised[word] += surface[:1].isupper()
    proper = {w for w, n in mid_sentence.items() if capitalised[w] * 2 > n}
    ranked = sorted((w for w in counts if w not in proper), key=lambda w: (-counts[w], w))[:top]
    return {
        "tokenizer_model": model_type,
        "piece_flags": "".join(map(str, flags.tolist())),
        "num_texts": len(texts),
        "num_content_words": len(counts),
        "dropped": {"proper_nouns": len(proper), f"occurrences_over_{MAX_WORD_PIECES}_pieces": too_long},
        "words": [{"word": w, "count": counts[w], "pieces": [list(p) for p, _ in spellings[w].most_common()]}
                  for w in ranked],
    }


def iter_db_texts(records: Iterable[dict[str, Any]]) -> Iterable[tuple[str, bool]]:
    """(text, is_subtitle) of subtitle db records (``sub[*].text``) and query records (``desc`` or ``q`` +
    ``answers``)."""
    for record in records:
        if "sub" in record:
            for sub in record["sub"]:
                yield str(sub.get("text", "")), True
        elif "desc" in record:
            yield str(record["desc"]), False
        elif "q" in record:
            yield str(record["q"]), False
            for answer in record.get("answers", []):
                yield str(answer), False


def table_for_dbs(db_paths: Sequence[str], tokenizer_dir: str, top: int = 3000,
                  pos_tagger: str = "auto") -> dict[str, Any]:
    """The significant-word table of the subtitle / query dbs ``db_paths``, mined with ``tokenizer_dir``.

    Texts are normalised by HERO's rule (subtitles html-unescaped) before counting, as when the dbs were
    tokenised. Every db must have been built with this tokenizer (same vocabulary fingerprint).

    Args:
        pos_tagger: ``auto`` (spaCy when installed, else the fallback rule), ``spacy`` or ``fallback``.
    """
    from pathlib import Path

    from data.dbs.codec import read_json
    from data.dbs.subtitle_db import SubtitleDb
    from data.prepro.tokenization import TextTokenizer, normalise_text

    if pos_tagger not in ("auto", "spacy", "fallback"):
        raise ValueError(f"pos_tagger must be auto, spacy or fallback, got {pos_tagger!r}")
    tokenizer = TextTokenizer(tokenizer_dir)
    fingerprint = tokenizer.vocab_fingerprint()
    texts: list[str] = []
    for path in db_paths:
        meta_path = Path(path) / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{path}: not a text db (no meta.json)")
        meta = read_json(meta_path)
        theirs = meta.get("tokenizer", {}).get("vocab_fingerprint")
        if theirs and theirs != fingerprint:
            raise ValueError(f"{path} was tokenised with another vocabulary ({theirs}) than --tokenizer "
                             f"{tokenizer_dir} ({fingerprint}); pass the tokenizer the db was built with")
        if meta.get("storage", {}).get("kind") == "subtitles":
            db = SubtitleDb(path)
            records: Iterable[dict[str, Any]] = (db[vid] for vid in db.ids())
        elif (Path(path) / "query_data.jsonl").is_file():
            lines = (Path(path) / "query_data.jsonl").read_text(encoding="utf-8").splitlines()
            records = (__import__("json").loads(line) for line in lines if line.strip())
        else:
            raise ValueError(f"{path}: neither a subtitle db nor a query db with query_data.jsonl")
        texts += [normalise_text(text, unescape_html=is_sub) for text, is_sub in iter_db_texts(records)]
    tagger = None if pos_tagger == "fallback" else spacy_tagger()
    if pos_tagger == "spacy" and tagger is None:
        raise RuntimeError("pos_tagger spacy: spaCy or its en_core_web_sm model is not installed")
    body = mine_significant_words(texts, tokenizer.hf, top, tagger)
    return {"format": TABLE_FORMAT, "version": TABLE_VERSION,
            "tokenizer": {"name": tokenizer.name, "vocab_fingerprint": fingerprint, "vocab_size": len(tokenizer.hf)},
            "pos_tagger": "spacy/en_core_web_sm" if tagger is not None else FALLBACK_TAGGER,
            "top": top, "sources": [str(p) for p in db_paths], **body}
