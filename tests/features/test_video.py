"""features/video.py: window count as HERO's extractor, which source frame each window sample takes, errors."""
from __future__ import annotations

import numpy as np
import pytest

from features.video import VideoError, WindowPlan, iter_windows, num_windows, probe, resized_dims
from tests.features.video_helpers import fps_filter_count, frame_level, write_corrupt, write_video


@pytest.mark.parametrize("frames,fps", [(45, 30), (67, 30), (68, 30), (113, 24), (300, 29.97), (37, 25), (20, 10)])
def test_window_count_is_what_ffmpegs_fps_filter_gives(tmp_path, frames, fps):
    """HERO's 2D extractor ran ffmpeg's fps=1/1.5 filter; its frame count is the db's (the 3D one is cut to it)."""
    path = write_video(tmp_path / "v.mp4", frames, fps, audio=False)
    duration, _ = probe(path)
    assert duration == pytest.approx(frames / fps, abs=1e-3)
    windows = list(iter_windows(path, WindowPlan(1.5, (32,)), batch_size=4))
    assert windows[-1].start + len(windows[-1]) == windows[0].total == fps_filter_count(path, 1.5)


def test_a_video_shorter_than_half_a_window_still_has_one():
    assert num_windows(0.4, 1.5) == 1 and num_windows(0.75, 1.5) == 1 and num_windows(2.25, 1.5) == 2


def expected_source_frame(t: float, num_frames: int, fps: float) -> int:
    """The source frame nearest to ``t`` seconds (the earlier one on a tie), clamped to the video."""
    return int(np.argmin(np.abs(np.arange(num_frames) / fps - t)))


def test_each_sample_is_the_nearest_source_frame(tmp_path):
    frames, fps = 29, 10.0  # 2.9 s → 2 windows; clips (30 fps) up-sample the 10 fps source
    path = write_video(tmp_path / "v.mp4", frames, fps, width=80, height=96)
    plan = WindowPlan(1.5, (32, 48), clip_size=32)
    batches = list(iter_windows(path, plan, batch_size=1))
    assert [b.start for b in batches] == [0, 1] and all(b.total == 2 for b in batches)
    times = plan.target_times(2)
    for b in batches:
        k = b.start
        assert b.stills[48].shape == (1, 48, 48, 3) and b.clip.shape == (1, 32, 32, 32, 3)
        corner = b.stills[32][0, :4, -4:].mean()  # the square never reaches the top-right corner
        assert corner == pytest.approx(frame_level(expected_source_frame(times[k, 0], frames, fps)), abs=3)
        got = [b.clip[0, j, :4, -4:].mean() for j in range(32)]
        want = [frame_level(expected_source_frame(t, frames, fps)) for t in times[k, 1:]]
        np.testing.assert_allclose(got, want, atol=3)


def test_clip_times_are_centred_in_the_window():
    times = WindowPlan(1.5, (224,), clip_size=224).target_times(3)
    assert times.shape == (3, 33)
    np.testing.assert_allclose(times[:, 0], [0.0, 1.5, 3.0])
    np.testing.assert_allclose(times[:, 1:].mean(axis=1), [0.75, 2.25, 3.75])
    np.testing.assert_allclose(np.diff(times[0, 1:]), 1 / 30)


def test_shorter_side_scales_to_the_size_and_the_longer_truncates():
    assert resized_dims(480, 640, 224) == (224, 298)
    assert resized_dims(640, 360, 224) == (398, 224)


def test_corrupt_file_is_one_error_naming_it(tmp_path):
    path = write_corrupt(tmp_path / "broken.mp4")
    with pytest.raises(VideoError) as err:
        list(iter_windows(path, WindowPlan(1.5, (32,)), batch_size=2))
    assert str(err.value).startswith(f"{path}: cannot read video") and "\n" not in str(err.value)
