"""SubRip (``.srt``) and WebVTT (``.vtt``) subtitle files → timed subtitle lines ``{"text", "start", "end"}``.

Both formats are blocks separated by blank lines; a cue is an optional identifier line (the SRT counter), a
timing line ``start --> end`` (anything after the end time — VTT cue settings, SRT coordinates — is ignored)
and its text lines, joined with a space (in SRT a text block after a blank line inside a cue continues
that cue, unless it starts with a counter). Markup is removed: HTML-like tags (``<i>``, ``<font …>``, VTT
``<v Speaker>``, ``<c.class>``, karaoke timestamps ``<00:01.500>``), ASS overrides (``{\\an8}``); entities are
unescaped. A UTF-8 BOM and CRLF / CR line ends are accepted. In WebVTT the ``WEBVTT`` header block and the
``NOTE``, ``STYLE`` and ``REGION`` blocks are skipped. Overlapping cues are kept as they are (the alignment
gives each frame to the best-overlapping subtitle). Cues whose text is empty after markup removal are kept
(they still own frames and are counted by the db builder).

A block without a timing line, a malformed timestamp or a cue ending before it starts raises
:class:`BadInputError` naming the file, the cue (its number counted from 1, and its line) and the problem.
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from data.prepro.annotations import BadInputError, OnBad

SUBTITLE_EXTENSIONS = (".srt", ".vtt")

# [hh:]mm:ss(,|.)fff — SRT uses a comma, VTT a dot; real files mix them, and some omit the hours
_TIME = re.compile(r"(?:(\d+):)?([0-5]?\d):([0-5]?\d)(?:[.,](\d{1,3}))?")
_TAG = re.compile(r"<[^<>]*>")
_ASS_OVERRIDE = re.compile(r"\{\\[^{}]*\}")
_SKIPPED_VTT_BLOCKS = ("NOTE", "STYLE", "REGION")


def read_subtitle_file(path: str | Path) -> list[dict[str, Any]]:
    """Cues of an ``.srt`` or ``.vtt`` file (by extension), in file order.

    Raises:
        BadInputError: unknown extension, undecodable text, a malformed block (see module docstring).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUBTITLE_EXTENSIONS:
        raise BadInputError(path, None, f"unknown subtitle format {suffix!r}; expected one of {SUBTITLE_EXTENSIONS}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise BadInputError(path, None, f"not UTF-8 text (byte {e.start}); convert the file to UTF-8") from None
    return parse_vtt(text, path) if suffix == ".vtt" else parse_srt(text, path)


def parse_srt(text: str, source: str | Path = "<srt>") -> list[dict[str, Any]]:
    """Cues of SubRip text (see module docstring)."""
    return list(_cues(text, source, vtt=False))


def parse_vtt(text: str, source: str | Path = "<vtt>") -> list[dict[str, Any]]:
    """Cues of WebVTT text (see module docstring)."""
    return list(_cues(text, source, vtt=True))


def parse_timestamp(text: str) -> float:
    """``[hh:]mm:ss[,.]fff`` → seconds; ``ValueError`` if ``text`` is not exactly one timestamp."""
    m = _TIME.fullmatch(text.strip())
    if not m:
        raise ValueError(f"malformed timestamp {text.strip()!r} (expected hh:mm:ss,mmm or hh:mm:ss.mmm)")
    hours, minutes, seconds, fraction = m.groups()
    return (int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
            + (int(fraction.ljust(3, "0")) / 1000 if fraction else 0.0))


def clean_cue_text(lines: list[str]) -> str:
    """Text lines of a cue → one line without markup."""
    joined = " ".join(line.strip() for line in lines)
    plain = _ASS_OVERRIDE.sub("", _TAG.sub("", joined))
    return " ".join(html.unescape(plain).split())


def _blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """``(first line number, lines)`` of each blank-line-separated block."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    block: list[str] = []
    start = 0
    for number, line in enumerate(lines, start=1):
        if line.strip():
            if not block:
                start = number
            block.append(line)
        elif block:
            yield start, block
            block = []
    if block:
        yield start, block


def _cues(text: str, source: str | Path, vtt: bool) -> Iterator[dict[str, Any]]:
    blocks = _blocks(text)
    if vtt:
        first = next(blocks, None)
        if first is None or not re.match(r"WEBVTT(\s|$)", first[1][0].lstrip("\ufeff")):
            raise BadInputError(source, "line 1", "not a WebVTT file: the first line must be 'WEBVTT'")
        if any("-->" in line for line in first[1][1:]):
            raise BadInputError(source, f"line {first[0]}",
                                "the WEBVTT header must be followed by a blank line before the first cue")
    number = 0
    previous: dict[str, Any] | None = None
    for line_no, block in blocks:
        if vtt and block[0].split(maxsplit=1)[0] in _SKIPPED_VTT_BLOCKS:
            continue
        timing = next((i for i, line in enumerate(block[:2]) if "-->" in line), None)
        if timing is None and not vtt and previous is not None and not block[0].strip().isdigit():
            # an SRT cue whose text holds a blank line: the block continues the previous cue's text
            previous["text"] = " ".join(filter(None, [previous["text"], clean_cue_text(block)]))
            continue
        if previous is not None:
            yield previous
            previous = None
        number += 1
        where = f"cue {number} (line {line_no})"
        if timing is None:
            raise BadInputError(source, where, f"no timing line 'start --> end' in the block starting {block[0]!r}")
        start_text, _, rest = block[timing].partition("-->")
        fields = rest.split()
        try:
            start = parse_timestamp(start_text)
            end = parse_timestamp(fields[0] if fields else "")
        except ValueError as e:
            raise BadInputError(source, where, str(e)) from None
        if end < start:
            raise BadInputError(source, where, f"ends before it starts ({block[timing].strip()!r})")
        previous = {"text": clean_cue_text(block[timing + 1:]), "start": start, "end": end}
    if previous is not None:
        yield previous


def subtitle_files(folder: str | Path) -> dict[str, list[Path]]:
    """Subtitle files of ``folder`` and its subfolders by video name: the path relative to ``folder`` without
    the extension (``a/b.en.srt`` → ``a/b.en``), extension case ignored."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInputError(folder, None, "subtitle folder not found")
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in SUBTITLE_EXTENSIONS and path.is_file():
            found.setdefault(path.relative_to(folder).with_suffix("").as_posix(), []).append(path)
    return found


def subtitle_file_of(files: dict[str, list[Path]], vid_name: str) -> Path | None:
    """The subtitle file of a video in :func:`subtitle_files`' index, None if it has none.

    Raises:
        BadInputError: the video has two subtitle files (e.g. ``.srt`` and ``.vtt``: which one is meant is
            unclear).
    """
    paths = files.get(vid_name, [])
    if len(paths) > 1:
        raise BadInputError(paths[0].parent, f"video {vid_name}",
                            f"two subtitle files ({paths[0].name}, {paths[1].name}); keep one")
    return paths[0] if paths else None


def iter_subtitle_folder(folder: str | Path, vid_names: list[str],
                         on_bad: OnBad) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, {"vid_name", "sub"})`` for every video of ``vid_names``, from ``folder/<vid_name>.srt|.vtt``
    (the file name of the video with the subtitle extension); a video without a file gets ``"sub": []``.
    A bad file goes to ``on_bad`` (raise, or skip that video)."""
    files = subtitle_files(folder)
    for vid in vid_names:
        try:
            path = subtitle_file_of(files, vid)
            subs = read_subtitle_file(path) if path is not None else []
        except BadInputError as error:
            on_bad(error)
            continue
        yield (path.name if path is not None else f"video {vid} (no subtitle file)"), {"vid_name": vid, "sub": subs}


def unmatched_subtitle_files(folder: str | Path, vid_names: list[str]) -> list[str]:
    """Subtitle files of ``folder`` (and its subfolders) that belong to no video of ``vid_names``."""
    names = set(vid_names)
    return [str(p.relative_to(folder)) for vid, paths in subtitle_files(folder).items() if vid not in names
            for p in paths]
