"""Build the demo corpus on first use (rank 0 builds, the other ranks wait)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .distributed import Distributed


def ensure_demo_corpus(folder: str | None, dist: Distributed, log: Callable[[str], None]) -> None:
    if not folder or (Path(folder) / "manifest.json").is_file():
        return
    if dist.is_main:
        from data.demo_corpus import build_demo_corpus
        log(f"demo corpus missing: building it into {folder} (about 10 s)")
        build_demo_corpus(folder, log=log)
    dist.barrier()
