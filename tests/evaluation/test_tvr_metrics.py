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


# ------------------------------------------------------------------ official float32 arithmetic at thresholds
def official_float32_metrics(predictions, ground_truth, dtype="float32"):
    """The official tvr_standalone_eval arithmetic, written out: (N, 100) float32 matrices, paired IoU,
    ``>= threshold`` on float32, round(mean * 100, 2)."""
    import numpy as np

    video2idx = predictions["video2idx"]
    by_id = {item["desc_id"]: item["predictions"] for item in predictions["VCMR"]}
    rows = np.array([by_id[g["desc_id"]] for g in ground_truth], dtype=dtype)  # (N, P, 4)
    gt = np.array([g["ts"] for g in ground_truth], dtype=dtype)                # (N, 2)
    gt_vid = np.array([video2idx[g["vid_name"]] for g in ground_truth], dtype=dtype)
    n, p = rows.shape[:2]
    pred = rows[:, :, 1:3].reshape(-1, 2)
    gts = np.repeat(gt, p, axis=0)
    inter = np.maximum(0, np.minimum(pred[:, 1], gts[:, 1]) - np.maximum(pred[:, 0], gts[:, 0]))
    union = np.maximum(pred[:, 1], gts[:, 1]) - np.minimum(pred[:, 0], gts[:, 0])
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union != 0).reshape(n, p)
    same = rows[:, :, 0] == gt_vid[:, None]
    out = {}
    for thd in (0.5, 0.7):
        hit = (iou >= thd) & same
        for k in (1, 5, 10, 100):
            out[f"{thd}-r{k}"] = round(float(np.mean(np.sum(hit[:, :k], axis=1) >= 1)) * 100, 2)
    return out


def exact_threshold_cases(count=400, seed=3):
    """Spans on the 1.5-s frame grid (and some decimal times) whose IoU with the GT is exactly 0.5 or 0.7."""
    from fractions import Fraction

    import numpy as np

    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        unit = float(rng.choice([1.5, 0.1, 0.3, 0.7]))
        gt_len = int(rng.integers(2, 40)) * 10
        start = int(rng.integers(0, 60))
        ratio = Fraction(int(rng.choice([5, 7])), 10)
        pred_len = int(gt_len * ratio)  # a prediction inside the GT, sharing its start: IoU = pred_len / gt_len
        if rng.random() < 0.5:  # or one that contains the GT: IoU = gt_len / pred_len
            pred_len = int(gt_len / ratio) if (gt_len / ratio).denominator == 1 else pred_len
        gt = [round(start * unit, 4), round((start + gt_len) * unit, 4)]
        pr = [round(start * unit, 4), round((start + pred_len) * unit, 4)]
        cases.append((gt, pr))
    return cases


def test_iou_exactly_on_the_thresholds_agrees_with_the_official_float32_arithmetic():
    cases = exact_threshold_cases()
    video2idx = {"v": 0, "w": 1}
    predictions = {"video2idx": video2idx, "VCMR": []}
    truth = []
    for i, (gt, pred) in enumerate(cases):
        rows = [[0, *pred, 1.0]] + [[1, 0.0, 3.0, 0.5 - j * 1e-3] for j in range(99)]
        predictions["VCMR"].append({"desc_id": i, "desc": "", "predictions": rows})
        truth.append({"desc_id": i, "vid_name": "v", "ts": gt})
    ours = evaluate(predictions, truth)["VCMR"]
    assert ours == official_float32_metrics(predictions, truth)
    # the cases do sit on the thresholds: the same arithmetic in float64 (this module before) counts others
    assert official_float32_metrics(predictions, truth, "float64") != ours
