"""Video QA evaluation arithmetic on hand-computed examples, and distributed evaluation = one process."""
from __future__ import annotations

import json
import math

import pytest
import torch

from config.loader import from_dict
from data.dbs.corpus import VideoCorpus
from data.loading.qa_datasets import VideoQaDataset
from evaluation.qa_eval import (
    best_spans,
    evaluate_qa,
    frames_to_seconds,
    predict_rank,
    qa_metrics,
    question_type,
    temporal_iou,
)
from model.config import HeroModelConfig
from model.video_qa import HeroForVideoQA
from tests.helpers_runs import TINY_MODEL
from utils.distributed import Distributed


@pytest.mark.parametrize("question, expected", [
    ("Who is sitting across the table from Amy ?", "who"),
    ("what did she put on her flowers?", "what"),
    ("How many knives are there?", "how"),
    ("Why?", "why"), ("WHERE is Penny", "where"), ("Which cup", "which"), ("When does he leave", "when"),
    ("Whose coat is it?", "other"),              # only the listed words count
    ("After Amy leaves, what does Raj say?", "other"),  # only the first word counts
    ("", "other"),
])
def test_question_type_rule(question, expected):
    assert question_type(question) == expected


def test_temporal_iou_hand_values():
    assert temporal_iou([0, 10], [5, 15]) == pytest.approx(5 / 15)
    assert temporal_iou([2, 4], [2, 4]) == 1.0
    assert temporal_iou([0, 1], [2, 3]) == 0.0   # disjoint
    assert temporal_iou([3, 3], [3, 3]) == 0.0   # empty union
    assert temporal_iou([1.5, 6.0], [0.0, 6.0]) == pytest.approx(0.75)


def test_best_span_respects_end_after_start():
    # P_st peaks at frame 2, P_ed at frame 0; frame 3 is padding (masked to -inf-like).
    st = torch.log(torch.tensor([[0.1, 0.2, 0.7, 1e-30]]))
    ed = torch.log(torch.tensor([[0.6, 0.1, 0.3, 1e-30]]))
    # candidates s ≤ e: (0,0)=.06 (0,1)=.01 (0,2)=.03 (1,1)=.02 (1,2)=.06 (2,2)=.21 → (2, 2)
    assert best_spans(st, ed).tolist() == [[2, 2]]
    st2 = torch.log(torch.tensor([[0.5, 0.4, 0.1]]))
    ed2 = torch.log(torch.tensor([[0.1, 0.1, 0.8]]))
    assert best_spans(st2, ed2).tolist() == [[0, 2]]  # .5·.8 = .40 beats .4·.8 = .32


def test_frames_to_seconds_inverts_the_label_rule():
    # frame_span_label([3.0, 7.5], fl=1.5) = (2, 4) → back to [3.0, 7.5]
    assert frames_to_seconds(2, 4, 1.5) == [3.0, 7.5]
    assert frames_to_seconds(0, 0, 2.0) == [0.0, 2.0]


def test_metrics_hand_computed():
    records = {
        "1": {"q": "Who is it?", "answer_idx": 2, "ts": [0.0, 6.0], "show_name": "A"},
        "2": {"q": "What is it?", "answer_idx": 0, "ts": "3-9", "show_name": "A"},     # TVQA string ts
        "3": {"q": "who else", "answer_idx": 1, "ts": None, "show_name": "B"},         # no span label
        "4": {"q": "Is it?", "answer_idx": 4, "ts": [10.0, 20.0], "show_name": "B"},
    }
    predictions = {"1": 2, "2": 1, "3": 1, "4": 4}
    spans = {"1": [1.5, 6.0], "2": [3.0, 9.0], "3": [0.0, 1.5], "4": [0.0, 5.0]}
    m = qa_metrics(predictions, spans, records)
    assert m["accuracy"] == 0.75 and m["count"] == 4
    assert m["by_show"] == {"A": {"accuracy": 0.5, "count": 2}, "B": {"accuracy": 1.0, "count": 2}}
    assert m["by_type"] == {"other": {"accuracy": 1.0, "count": 1}, "what": {"accuracy": 0.0, "count": 1},
                            "who": {"accuracy": 1.0, "count": 2}}
    # IoUs: 0.75, 1.0, (none), 0.0 → mean 1.75 / 3; ≥ 0.5: 2 of 3
    assert m["temporal"]["count"] == 3
    assert m["temporal"]["mean_iou"] == pytest.approx(1.75 / 3)
    assert m["temporal"]["iou_ge_0.5"] == pytest.approx(2 / 3)
    json.dumps(m)  # JSON-ready


def test_metrics_without_labels_are_empty():
    records = {"7": {"q": "why", "answer_idx": None, "ts": None}}
    assert qa_metrics({"7": 3}, {"7": [0.0, 1.5]}, records) == {}


# ----------------------------------------------------------------------- distributed = one process
class _GatheredTwoRanks(Distributed):
    """Rank 0 of a 2-process run whose gather returns rank 1's precomputed rows."""

    def __init__(self, other_rows):
        super().__init__(backend="torch", rank=0, world_size=2)
        self.other_rows = other_rows

    def all_gather_object(self, obj):
        return [obj, self.other_rows]


@pytest.fixture(scope="module")
def tiny_qa(demo_dir):
    torch.manual_seed(0)
    model = HeroForVideoQA(from_dict(HeroModelConfig, TINY_MODEL), lw_st_ed=0.4).eval()
    corpus = VideoCorpus(demo_dir / "txt_db/tv_subtitles.db", demo_dir / "video_db/tv")
    return model, VideoQaDataset(corpus, demo_dir / "txt_db/tvqa_val.db", training=False)


def test_two_rank_evaluation_equals_one_process(tiny_qa):
    model, dataset = tiny_qa
    single = evaluate_qa(model, dataset, 16, Distributed())
    assert list(single.predictions) == dataset.question_ids  # every question, dataset order
    rank1 = predict_rank(model, dataset, 16, Distributed(backend="torch", rank=1, world_size=2))
    both = evaluate_qa(model, dataset, 16, _GatheredTwoRanks(rank1))
    assert both.predictions == single.predictions and both.metrics == single.metrics
    for qid, span in single.spans.items():
        assert both.spans[qid] == pytest.approx(span)
    m = single.metrics
    assert 0 <= m["accuracy"] <= 1 and m["count"] == len(dataset)
    assert sum(v["count"] for v in m["by_type"].values()) == len(dataset)
    assert set(m["by_show"]) == {"The Big Bang Theory"}
    assert all(0 <= st < ed and math.isfinite(ed) for st, ed in single.spans.values())
