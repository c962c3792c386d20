"""What a run's data readers kept and dropped, by reason — logged at start, written to ``log/data_report.json``,
and a stop when a db or dataset drops more than ``max_dropped_share`` of its items (nothing is lost silently).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from data.dbs.corpus import VideoCorpus
from tasks.setup import SetupError


class DataReport:
    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}

    def add(self, name: str, total: int, kept: int, dropped: Mapping[str, int], **notes: int) -> None:
        """``total`` items of ``name`` of which ``kept`` are used; ``dropped``: reason → count."""
        self.entries[name] = {"total": int(total), "kept": int(kept),
                              "dropped": {reason: int(n) for reason, n in dropped.items() if n},
                              **{key: int(value) for key, value in notes.items()}}

    def corpus(self, name: str, corpus: VideoCorpus) -> None:
        """Videos of a subtitle db that have features, and clips that ``max_clip_len`` cuts."""
        self.add(f"{name} videos", len(corpus.subtitles), len(corpus),
                 {f"no features in {corpus.videos.path}": corpus.num_missing_features},
                 clips_cut_to_max_clip_len=corpus.num_truncated_clips)

    def dataset(self, name: str, dataset: Any) -> None:
        """A task dataset: ``dropped`` (reason → count) or ``num_skipped`` (videos without a usable subtitle)."""
        dropped = dict(getattr(dataset, "dropped", {}) or {})
        skipped = int(getattr(dataset, "num_skipped", 0))
        if skipped:
            dropped["no usable subtitle"] = skipped
        self.add(name, len(dataset) + sum(dropped.values()), len(dataset), dropped)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.entries)

    def log(self, log: Callable[[str], None]) -> None:
        for name, entry in self.entries.items():
            dropped = entry["total"] - entry["kept"]
            reasons = ", ".join(f"{reason}: {n}" for reason, n in entry["dropped"].items())
            cut = entry.get("clips_cut_to_max_clip_len")
            log(f"data: {name}: kept {entry['kept']} of {entry['total']}"
                + (f", dropped {dropped} ({reasons})" if dropped else "")
                + (f", {cut} clips cut to max_clip_len" if cut else ""))

    def check(self, max_dropped_share: float) -> None:
        """One line for the first db / dataset that drops more than ``max_dropped_share`` of its items."""
        for name, entry in self.entries.items():
            dropped = entry["total"] - entry["kept"]
            if entry["total"] and dropped / entry["total"] > max_dropped_share:
                reasons = ", ".join(f"{reason}: {n}" for reason, n in entry["dropped"].items())
                raise SetupError(f"data: {name}: {dropped} of {entry['total']} dropped "
                                 f"({100 * dropped / entry['total']:.1f} %; {reasons}), more than max_dropped_share "
                                 f"{max_dropped_share}; fix the data, or go on with --max_dropped_share 1")
