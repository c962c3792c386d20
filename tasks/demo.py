"""Build the demo corpus on first use (rank 0 builds, the other ranks wait)."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from utils.distributed import Distributed


def ensure_demo_corpus(folder: str | None, dist: Distributed, log: Callable[[str], None]) -> None:
    """Build the corpus if ``folder`` has none, or rebuild it if it was built by an older library version."""
    from data.demo.world import DEMO_CORPUS_VERSION, build_demo_corpus

    if not folder:
        return
    manifest = Path(folder) / "manifest.json"
    version = json.loads(manifest.read_text(encoding="utf-8")).get("version") if manifest.is_file() else None
    if version == DEMO_CORPUS_VERSION:
        return
    if dist.is_main:
        why = "missing" if version is None else f"version {version} is outdated (now {DEMO_CORPUS_VERSION})"
        log(f"demo corpus {why}: building it into {folder} (about 10 s)")
        build_demo_corpus(folder, log=log, overwrite=version is not None)
    dist.barrier()
