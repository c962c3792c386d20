"""Atomic writes on a full disk: one clear error naming the file, and nothing left behind."""
import subprocess

import pytest
import torch

from data.dbs.video_db import build_video_db
from utils.atomic_io import atomic_torch_save


@pytest.fixture()
def small_disk(tmp_path):
    """A 2 MiB filesystem (tmpfs); skipped where this process may not mount one."""
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {result.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_checkpoint_save_on_a_full_disk(small_disk):
    target = small_disk / "ckpt" / "train_state.pt"
    with pytest.raises(OSError, match=rf"cannot write {target} .*MiB free on its disk — is it full\?"):
        atomic_torch_save({"weights": torch.zeros(2_000_000)}, target)
    assert list(target.parent.iterdir()) == []  # no partial or temporary file


def test_db_build_on_a_full_disk(small_disk):
    import numpy as np
    rng = np.random.default_rng(0)
    videos = ((f"v{i:03d}", rng.standard_normal((50, 256)).astype(np.float32)) for i in range(200))
    with pytest.raises(OSError, match="writing the db failed .* is it full"):
        build_video_db(videos, small_disk / "video.db")
    assert list(small_disk.iterdir()) == []  # neither the db nor its temporary folder
