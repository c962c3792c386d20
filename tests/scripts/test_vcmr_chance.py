"""scripts/vcmr_chance.py: the uniform predictor's metrics on cases whose answer is known."""
from __future__ import annotations

from scripts.vcmr_chance import chance_metrics


def test_single_two_frame_video_is_always_found():
    # one candidate, 2 frames, spans of exactly 2 frames: every prediction is the GT moment
    queries = [{"desc_id": 1, "vid_name": "a", "ts": [0.0, 3.0]}]
    metrics = chance_metrics(queries, {"a": 7}, {"a": 2}, 1.5, min_len=2, max_len=3)
    assert metrics["VR"]["r1"] == metrics["SVMR"]["0.7-r1"] == metrics["VCMR"]["0.7-r1"] == 100.0


def test_recall_grows_with_k_and_matches_the_video_count():
    names = [f"v{i}" for i in range(50)]
    queries = [{"desc_id": i, "vid_name": names[i % 50], "ts": [3.0, 9.0]} for i in range(400)]
    metrics = chance_metrics(queries, {v: i for i, v in enumerate(names)}, dict.fromkeys(names, 40), 1.5)
    vr = metrics["VR"]
    assert vr["r1"] < vr["r5"] < vr["r10"] < vr["r100"] == 100.0
    assert abs(vr["r10"] - 20.0) < 6  # 10 of 50 videos
    assert metrics["VCMR"]["0.7-r100"] < metrics["SVMR"]["0.7-r100"]
