"""MSSM masking and LVWM word choice on hand-made tables (counts and shares computed by hand), and the MSSM /
LVWM datasets on the demo corpus with a table mined by the real pipeline."""
from __future__ import annotations

import numpy as np
import pytest

from data.dbs.corpus import TokenIds
from data.loading.lvwm_dataset import LvwmDataset
from data.loading.pretrain_datasets import MlmDataset
from data.loading.significant_words import SignificantWords, choose_word_positions, mssm_budget, mssm_mask_tokens
from data.prepro.significant_words import CONTINUES_ALWAYS, ENDS_ALNUM, TABLE_FORMAT, TABLE_VERSION, table_for_dbs
from tests.data.data_helpers import tokenizer
from tests.data.dbs.test_corpus import demo_corpus

IDS = TokenIds(cls=1, sep=2, pad=0, mask=3, unk=4, vocab_size=50, word_range=(5, 50))


def hand_table(words: list[list[int]]) -> SignificantWords:
    """Vocabulary of 50 WordPiece-like pieces: 40–49 are "##" continuations, the rest whole-word starts."""
    flags = [ENDS_ALNUM] * 40 + [CONTINUES_ALWAYS | ENDS_ALNUM] * 10
    return SignificantWords({"format": TABLE_FORMAT, "version": TABLE_VERSION, "piece_flags": "".join(map(str, flags)),
                             "words": [{"word": str(w), "count": 1, "pieces": [w]} for w in words]})


WORDS = hand_table([[10], [11], [20, 40]])  # "20 ##40" is one significant word; 20 alone is not


def concat(rows):
    return np.concatenate([np.array(r, dtype=np.int64) for r in rows]), np.array([len(r) for r in rows])


def test_budget_by_hand():
    # ⌊0.15 L⌋ + (frac ≥ 0.3), at least 1: L=2 → 0.30 → 1; L=6 → 0.90 → 1; L=7 → 1.05 → 1; L=10 → 1.5 → 2;
    # L=16 → 2.4 → 3; L=20 → 3.0 → 3; L=22 → 3.3 → 4
    lengths = np.array([0, 1, 2, 6, 7, 10, 16, 20, 22])
    assert mssm_budget(lengths).tolist() == [0, 1, 1, 1, 1, 2, 3, 3, 4]


def test_whole_word_significance():
    tokens, lengths = concat([[5, 20, 40, 11], [20, 41, 20], [40, 10]])
    inside, starts = WORDS.significant(tokens, lengths)
    # "20 ##41" is another word; a sequence's first piece starts a word even when it is a "##" piece
    assert inside.astype(int).tolist() == [0, 1, 1, 1, 0, 0, 0, 0, 1]
    assert starts.astype(int).tolist() == [0, 1, 0, 1, 0, 0, 0, 0, 1]


def test_mssm_counts_and_share_by_hand():
    rows = [[10, 5, 6, 7, 8, 9, 12],                  # L=7: budget 1, significant {0}
            [5, 20, 40, 11, 6, 7, 8, 9, 12, 13],      # L=10: budget 2, significant {1, 2, 3}
            [5, 6, 7],                                # L=3: budget 1, none significant
            [11, *range(12, 20), *range(21, 32)],     # L=20: budget 3, significant {0}
            [20]]                                     # L=1: budget 1 (forced), "20" alone is not significant
    tokens, lengths = concat(rows)
    inside, _ = WORDS.significant(tokens, lengths)
    sequence = np.repeat(np.arange(len(rows)), lengths)
    for seed in range(20):
        _, labels = mssm_mask_tokens(tokens, lengths, np.random.default_rng(seed), 0.15, IDS, WORDS)
        chosen = labels >= 0
        assert np.bincount(sequence[chosen], minlength=5).tolist() == [1, 2, 1, 3, 1]
        # significant first: 1 + 2 + 0 + 1 + 0 = 4 of the 8 chosen positions
        assert int((chosen & inside).sum()) == 4
        assert chosen[0] and chosen[sum(lengths[:3])]  # the only significant piece of rows 0 and 3
        assert (labels[chosen] == tokens[chosen]).all()


def test_mssm_80_10_10_with_significant_replacements():
    tokens = np.tile(np.array([10, 11], dtype=np.int64), 20000)
    lengths = np.full(4000, 10)  # budget 2 of 10 per sequence, all significant
    inputs, labels = mssm_mask_tokens(tokens, lengths, np.random.default_rng(0), 0.15, IDS, WORDS)
    chosen = labels >= 0
    assert chosen.sum() == 8000
    masked, kept = (inputs[chosen] == IDS.mask).mean(), (inputs[chosen] == tokens[chosen]).mean()
    replaced = inputs[chosen & (inputs != IDS.mask) & (inputs != tokens)]
    assert abs(masked - 0.8) < 0.02 and 0.1 - 0.02 < kept < 0.15 + 0.02  # kept includes replacements by itself
    assert set(replaced.tolist()) <= {10, 11}  # single-piece significant words only
    assert (inputs[~chosen] == tokens[~chosen]).all()


def test_word_positions_by_hand():
    tokens, lengths = concat([[5, 20, 40, 11, 6], [5, 6], [10, 11, 10, 11, 5]])
    for seed in range(10):
        positions = choose_word_positions(tokens, lengths, np.random.default_rng(seed), WORDS, 3)
        assert sorted(set(positions[0].tolist())) == [1, 3]  # two significant words, one repeated
        assert set(positions[1].tolist()) <= {0, 1}         # none: any piece
        assert len(set(positions[2].tolist())) == 3 and set(positions[2].tolist()) <= {0, 1, 2, 3}


@pytest.fixture(scope="module")
def tv_with_table(demo_manifest):
    corpus = demo_corpus(demo_manifest, max_clip_len=60)
    table = table_for_dbs([demo_manifest["corpora"]["tv"]["subtitle_db"], demo_manifest["tasks"]["tvr"]["train"]],
                          str(tokenizer().path), top=300, pos_tagger="fallback")
    return corpus, SignificantWords(table)


def significant_share(dataset, words, count=60):
    hits = total = 0
    for index in range(count):
        for example in dataset.example(index, np.random.default_rng(index)):
            ids, labels = np.array(example.input_ids[1:]), np.array(example.labels[1:])
            original = np.where(labels >= 0, labels, ids)
            inside, _ = words.significant(original, np.array([len(original)]))
            hits, total = hits + int(inside[labels >= 0].sum()), total + int((labels >= 0).sum())
    return hits / total


def test_mssm_option_changes_the_masks(tv_with_table):
    corpus, words = tv_with_table
    random_share = significant_share(MlmDataset(corpus), words)
    mssm_share = significant_share(MlmDataset(corpus, significant_words=words), words)
    assert mssm_share > random_share + 0.2, (random_share, mssm_share)


def test_lvwm_dataset_on_demo(tv_with_table):
    corpus, words = tv_with_table
    dataset = LvwmDataset(corpus, words, query_per_video=2, seed=3)
    examples = [dataset.example(i, np.random.default_rng(i)) for i in range(6)]
    batch = dataset.collate(examples)
    assert batch.word_positions.shape == (12, 3) and batch.moment_mask.shape == batch.video.clip_mask[
        batch.query_video_index].shape
    ids = batch.queries.ids
    assert (ids[:, 0] == corpus.token_ids.cls).all() and (batch.word_positions >= 1).all()
    for q, example_query in enumerate(q for ex in examples for q in ex.queries):
        positions = batch.word_positions[q]
        assert (positions < len(example_query)).all()
        _, starts = words.significant(np.array(example_query[1:]), np.array([len(example_query) - 1]))
        if starts.any():  # the chosen words start significant words
            assert starts[(positions - 1).numpy()].all()
    # the positive bag = the frames the query subtitle owns; the clip carries no subtitle text
    assert (batch.moment_mask.sum(1) > 0).all()
    assert (batch.moment_mask <= batch.video.clip_mask[batch.query_video_index]).all()
    assert (batch.video.cross_modal.text_ids[:, 1:] == corpus.token_ids.pad).all()
    again = dataset.collate([dataset.example(i, np.random.default_rng(i)) for i in range(6)])
    assert (again.word_positions == batch.word_positions).all() and (again.queries.ids == ids).all()
