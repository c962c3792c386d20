"""Official TVR metrics arithmetic and the prediction file format."""
import json

import pytest

from evaluation.tvr_metrics import PredictionFileError, evaluate, load_predictions, write_predictions

VIDEO2IDX = {"a": 0, "b": 1, "c": 2}
GT = [{"desc_id": 1, "vid_name": "a", "ts": [0.0, 10.0], "type": "v"},
      {"desc_id": 2, "vid_name": "b", "ts": [10.0, 20.0], "type": "t"}]


def predictions():
    return {
        "video2idx": VIDEO2IDX,
        # q1: rank 1 on GT video with IoU 8/10 = 0.8; q2: rank 1 wrong video, rank 2 IoU 6/10 = 0.6
        "VCMR": [{"desc_id": 1, "desc": "x", "predictions": [[0, 0.0, 8.0, 0.9], [2, 0.0, 10.0, 0.5]]},
                 {"desc_id": 2, "desc": "y", "predictions": [[0, 10.0, 20.0, 0.9], [1, 10.0, 16.0, 0.8]]}],
        "SVMR": [{"desc_id": 1, "desc": "x", "predictions": [[0, 5.0, 10.0, 0.9], [0, 0.0, 9.0, 0.1]]},
                 {"desc_id": 2, "desc": "y", "predictions": [[1, 10.0, 17.0, 0.9]]}],
        "VR": [{"desc_id": 1, "desc": "x", "predictions": [[2, 0, 0, 3.0], [0, 0, 0, 2.0]]},
               {"desc_id": 2, "desc": "y", "predictions": [[1, 0, 0, 5.0]]}],
    }


def test_recall_arithmetic():
    m = evaluate(predictions(), GT)
    assert m["VCMR"]["0.5-r1"] == 50.0 and m["VCMR"]["0.5-r5"] == 100.0
    assert m["VCMR"]["0.7-r1"] == 50.0 and m["VCMR"]["0.7-r100"] == 50.0
    # SVMR q1: IoU 0.5 at rank 1, 0.9 at rank 2; q2: IoU 0.7 at rank 1
    assert m["SVMR"]["0.5-r1"] == 100.0 and m["SVMR"]["0.7-r1"] == 50.0 and m["SVMR"]["0.7-r5"] == 100.0
    assert m["VR"]["r1"] == 50.0 and m["VR"]["r5"] == 100.0
    assert m["by_type"]["v"]["VCMR"]["0.7-r1"] == 100.0 and m["by_type"]["t"]["VCMR"]["0.7-r1"] == 0.0
    assert m["num_queries"] == 2


def test_missing_query_is_a_miss_and_only_top_100_count():
    preds = predictions()
    preds["VR"] = [{"desc_id": 1, "desc": "", "predictions": [[2, 0, 0, 1.0]] * 100 + [[0, 0, 0, 0.5]]}]
    assert evaluate(preds, GT)["VR"]["r100"] == 0.0


def test_file_round_trips(tmp_path):
    preds = predictions()
    write_predictions(tmp_path / "p.json", preds["video2idx"], preds)
    loaded = load_predictions(tmp_path / "p.json")
    assert loaded == json.loads(json.dumps(preds))
    assert evaluate(loaded, GT) == evaluate(preds, GT)


@pytest.mark.parametrize("broken, message", [
    (lambda p: p.pop("video2idx"), "video2idx"),
    (lambda p: p["VCMR"][0]["predictions"].reverse(), "not sorted"),
    (lambda p: p["VR"][0]["predictions"].append([9, 0, 0, 0.0]), "not in video2idx"),
    (lambda p: p["SVMR"][1]["predictions"].append([1, 2.0]), "[vid_idx, st, ed, score]"),
    (lambda p: p.update(VCRM=[]), "unknown key"),
])
def test_invalid_files_are_rejected_with_a_clear_message(tmp_path, broken, message):
    preds = predictions()
    broken(preds)
    (tmp_path / "p.json").write_text(json.dumps(preds))
    with pytest.raises(PredictionFileError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_predictions(tmp_path / "p.json")
