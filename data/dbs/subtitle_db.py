"""Subtitle db: per video, its timed subtitles, their token ids and the subtitle ↔ frame alignment.

Record (key = ``vid_name``)::

    {"vid_name": str,
     "sub": [{"text": str, "start": float, "end": float}, ...],  # kept subtitles, sorted by start
     "input_ids": [[int, ...], ...],      # per subtitle, no special tokens
     "frame_owner": int32 array (num_frames,),  # index into "sub" of the owning subtitle, -1 = none
     "sub2frames": [[int, ...], ...],     # per subtitle, every frame it overlaps (< num_frames)
     "num_frames": int}

Side files: ``meta.json`` (tokenizer, special ids, vocab size, frame interval), ``id2nframe.json``
(vid → frames), ``id2len.json`` (vid → total subtitle tokens).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from data.dbs.db_reader import DbError, PerVideoDatabase
from data.dbs.released_layout import ReleasedFormatError, subtitle_record
from data.dbs.storage import AtomicDbWriter
from data.prepro.alignment import align_subtitles, sort_subtitles
from data.prepro.annotations import BadInputError, BadInputPolicy, parse_subtitles, read_frame_counts
from data.prepro.subtitle_files import iter_subtitle_folder, unmatched_subtitle_files
from data.prepro.tokenization import TextTokenizer, as_tokenizer


class SubtitleDb(PerVideoDatabase):
    """Reader of a subtitle db (lazy, fork-safe, picklable).

    Args:
        path: db directory written by :func:`build_subtitle_db`, or a released HERO subtitle db
            (``tv_subtitles.db``: records with ``unique_sub2frames``, read as this library's records).
    """

    kind = "subtitles"

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.id2len: dict[str, int] = self.side_json("id2len.json", {})

    def __getitem__(self, vid_name: str) -> dict[str, Any]:
        """The record of one video (``frame_owner`` as an int32 array)."""
        return self._get(vid_name)

    def _checked(self, key: str, record: Any) -> Any:
        if self.released is not None:  # reference record (unique_sub2frames) → this library's record
            try:
                return subtitle_record(str(self.path), key, record, self._id2nframe.get(key, 0))
            except ReleasedFormatError as error:
                raise DbError(str(error)) from None
        ids = self._field(key, record, "input_ids", list)
        owner = self._field(key, record, "frame_owner", (np.ndarray, list))
        if not all(isinstance(row, list) for row in ids):
            raise DbError(f"{self.path}: record {key!r} field 'input_ids' must be a list of token-id lists")
        if len(owner) and int(np.max(owner)) >= len(ids):
            raise DbError(f"{self.path}: record {key!r} field 'frame_owner' names subtitle {int(np.max(owner))} "
                          f"of {len(ids)}")
        return record

    @property
    def frame_interval(self) -> float | None:
        """Seconds per frame used for the alignment (None: a released db that does not record it)."""
        value = self.meta.get("frame_interval")
        return None if value is None else float(value)


def make_subtitle_record(
    vid_name: str,
    subs: list[dict[str, Any]],
    num_frames: int,
    tokenizer: TextTokenizer,
    frame_interval: float,
) -> tuple[dict[str, Any], dict[str, int]]:
    """Align and tokenise one video's subtitles.

    Args:
        vid_name: video name.
        subs: ``[{"text","start","end"}, ...]`` in any order (sorted here, stably by start).
        num_frames: frames of the video.
        tokenizer: text tokenizer (subtitle rule).
        frame_interval: seconds per frame.

    Returns:
        The record (see module docstring) and counts ``{"dropped": subtitles starting after the video
        end, "cut": 1 if the long last subtitle was cut}``.

    Raises:
        ValueError: bad times (see :func:`data.alignment.align_subtitles`).
    """
    subs = sort_subtitles(subs)
    ali = align_subtitles([s["start"] for s in subs], [s["end"] for s in subs], num_frames, frame_interval)
    kept = [{"text": subs[i]["text"], "start": float(subs[i]["start"]), "end": float(subs[i]["end"])}
            for i in ali.kept]
    record = {
        "vid_name": vid_name,
        "sub": kept,
        "input_ids": tokenizer.encode_subtitles([s["text"] for s in kept]),
        "frame_owner": ali.frame_owner,
        "sub2frames": ali.sub2frames,
        "num_frames": int(num_frames),
    }
    return record, {"dropped": len(subs) - len(kept), "cut": ali.num_cut}


def build_subtitle_db(
    subtitle_path: str | Path,
    frame_counts: str | Path | Mapping[str, int],
    output: str | Path,
    tokenizer: str | Path | TextTokenizer | None = None,
    *,
    frame_interval: float = 1.5,
    skip_bad: bool = False,
    allow_empty: bool = False,
    overwrite: bool = False,
    compress: bool = False,
    log: Callable[[str], None] | None = None,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
) -> dict[str, int]:
    """Build a subtitle db from a subtitle jsonl file or a folder of ``.srt`` / ``.vtt`` files.

    Args:
        subtitle_path: jsonl, one ``{"vid_name", "sub": [{"text","start","end"}]}`` per line (an ASR
            output may name the list ``"segments"``); or a folder holding ``<video>.srt`` / ``<video>.vtt``
            per video of ``frame_counts`` (e.g. beside the video files): every video of the frame counts
            is then written, those without a subtitle file with no subtitle (``allow_empty`` is implied).
        frame_counts: ``{vid: frames}``, a JSON file of it, or a video db directory (its id2nframe.json).
        output: db directory to create (atomically).
        tokenizer: local tokenizer path or instance (default: the bundled MiniLM BERT tokenizer).
        frame_interval: seconds per frame.
        skip_bad: skip bad videos (counted) instead of stopping at the first.
        allow_empty: keep videos whose subtitle list is empty (all frames owned by -1) instead of
            treating them as bad input.
        overwrite: replace an existing db.
        compress: lz4-compress records.
        log: receives one line per skipped bad video.
        progress: wraps the record iterator (e.g. ``tqdm``).

    Returns:
        Counts: ``videos``, ``subtitles``, ``dropped_subtitles`` (start after the video end),
        ``cut_subtitles`` (long last subtitle cut), ``bad``; from a folder also ``without_subtitles``
        (videos without a subtitle file) and ``unmatched_files`` (subtitle files of no video, each logged).

    Raises:
        BadInputError: first bad record when ``skip_bad`` is False.
        FileExistsError: ``output`` exists and ``overwrite`` is False.
    """
    if not frame_interval > 0:
        raise ValueError(f"frame_interval must be > 0, got {frame_interval}")
    if Path(output).exists() and not overwrite:  # fail before the slow parts
        raise FileExistsError(f"{output} already exists; pass --overwrite to replace it")
    counts_src = str(frame_counts) if not isinstance(frame_counts, Mapping) else "frame counts"
    nframes = dict(frame_counts) if isinstance(frame_counts, Mapping) else read_frame_counts(frame_counts)
    toker = as_tokenizer(tokenizer)
    policy = BadInputPolicy(skip=skip_bad, log=log)
    stats = {"videos": 0, "subtitles": 0, "dropped_subtitles": 0, "cut_subtitles": 0, "empty_text": 0, "bad": 0}
    id2nframe: dict[str, int] = {}
    id2len: dict[str, int] = {}
    folder = Path(subtitle_path).is_dir()
    items: Iterable[tuple[str, dict[str, Any]]]
    if folder:
        allow_empty = True  # a video without a subtitle file is a video without speech, not bad input
        names = sorted(nframes)
        unmatched = unmatched_subtitle_files(subtitle_path, names)
        for name in unmatched[:20]:
            policy.log(f"warning: {Path(subtitle_path) / name} matches no video of {counts_src}; not used")
        stats.update(without_subtitles=0, unmatched_files=len(unmatched))
        items = iter_subtitle_folder(subtitle_path, names, policy)
    else:
        items = parse_subtitles(subtitle_path, policy)
    if progress is not None:
        items = progress(items)
    with AtomicDbWriter(output, "subtitles", compress=compress, overwrite=overwrite) as writer:
        for where, item in items:
            vid = item["vid_name"]
            try:
                record, info = _video_record(item, nframes, counts_src, toker, frame_interval, allow_empty)
            except ValueError as e:
                policy(BadInputError(subtitle_path, f"{where} (video {vid})", str(e)))
                continue
            writer.put(vid, record)
            id2nframe[vid] = record["num_frames"]
            id2len[vid] = sum(len(ids) for ids in record["input_ids"])
            stats["videos"] += 1
            stats["subtitles"] += len(record["sub"])
            stats["dropped_subtitles"] += info["dropped"]
            stats["cut_subtitles"] += info["cut"]
            stats["empty_text"] += sum(not ids for ids in record["input_ids"])  # kept (they own frames), counted
            if folder and not item["sub"]:
                stats["without_subtitles"] += 1
        if not id2nframe:
            raise BadInputError(subtitle_path, None, "no usable video in the file")
        writer.add_json("id2nframe.json", id2nframe)
        writer.add_json("id2len.json", id2len)
        writer.update_meta(
            kind="subtitles",
            frame_interval=float(frame_interval),
            source=str(Path(subtitle_path).resolve()),
            frame_counts=counts_src,
            allow_empty=allow_empty,
            num_videos=stats["videos"],
            num_subtitles=stats["subtitles"],
            **toker.meta(),
        )
    stats["bad"] = policy.count
    return stats


def _video_record(
    item: dict[str, Any],
    nframes: Mapping[str, int],
    counts_src: str,
    toker: TextTokenizer,
    frame_interval: float,
    allow_empty: bool,
) -> tuple[dict[str, Any], dict[str, int]]:
    vid = item["vid_name"]
    if vid not in nframes:
        raise ValueError(f"no frame count for this video in {counts_src} (video without features?)")
    n = nframes[vid]
    if n < 1:
        raise ValueError(f"frame count is {n}; a video needs at least one frame")
    if not item["sub"] and not allow_empty:
        raise ValueError("empty subtitle list (pass --allow-empty-sub to keep such videos)")
    record, info = make_subtitle_record(vid, item["sub"], n, toker, frame_interval)
    if not record["sub"] and not allow_empty:
        raise ValueError(f"every subtitle starts after the video end ({n} frames × {frame_interval} s)")
    return record, info
