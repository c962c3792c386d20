"""Parsers of the real annotation formats (see README.md beside the real files in ../shared/data/).

Every parser is a generator over one file that yields ``(where, normalised dict)`` pairs (``where`` =
``"line N"`` / ``"item N"``) and reports each bad record to an ``on_bad`` callback
(:class:`BadInputPolicy`): it raises in strict mode, or counts and continues with ``--skip-bad``.
A problem that concerns the whole file (unreadable JSON list, missing file) is raised
directly. Error messages always name the file, the line (or list item) and the problem.

Normalised fields (raw fields are kept beside them):
- retrieval (TVR, How2R): ``desc_id`` int, ``desc``, ``vid_name`` (None in TVR test), ``ts`` [st, ed]
  clip-relative seconds or None, ``duration`` or None, ``type`` (TVR) ;
- QA (TVQA, TVQA+, How2QA): ``qid`` int, ``q``, ``answers`` [str], ``answer_idx`` int or None, ``ts``
  [st, ed] float seconds or None, ``vid_name``, ``show_name`` when present.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import random
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HOW2_CLIP_SECONDS = 60
QA_FORMATS = ("tvqa", "tvqa_plus", "how2qa")


class BadInputError(ValueError):
    """One bad input record (or file), with where it is and what is wrong."""

    def __init__(self, source: str | Path, where: str | None, problem: str) -> None:
        self.source, self.where, self.problem = str(source), where, problem
        super().__init__(f"{source}: {where}: {problem}" if where else f"{source}: {problem}")


class BadInputPolicy:
    """What to do with a bad record: raise it (default) or skip it, counting and logging.

    Args:
        skip: skip bad records instead of raising.
        log: called with a one-line warning for each skipped record (the first ``max_logged``).
        max_logged: how many skipped records are logged individually.
    """

    def __init__(self, skip: bool = False, log: Callable[[str], None] | None = None, max_logged: int = 20) -> None:
        self.skip = skip
        self.count = 0
        self.log = log if log is not None else (lambda msg: print(msg, file=sys.stderr))
        self.max_logged = max_logged

    def __call__(self, error: BadInputError) -> None:
        if not self.skip:
            raise error
        self.count += 1
        if self.count <= self.max_logged:
            self.log(f"warning: skipped bad input: {error}")
        elif self.count == self.max_logged + 1:
            self.log("warning: more bad inputs skipped; see the final count")


OnBad = Callable[[BadInputError], None]


# --------------------------------------------------------------------------------------------------
# readers of containers


def iter_jsonl(path: str | Path, on_bad: OnBad) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``("line N", object)`` for each non-blank line; malformed lines go to ``on_bad``."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line.rstrip("\r\n"))  # so a column in the message points into the line
            except json.JSONDecodeError as e:
                on_bad(BadInputError(path, f"line {n}", f"malformed JSON ({e.msg} at column {e.colno})"))
                continue
            if not isinstance(obj, dict):
                on_bad(BadInputError(path, f"line {n}", f"expected a JSON object, got {type(obj).__name__}"))
                continue
            yield f"line {n}", obj


def iter_json_list(path: str | Path, on_bad: OnBad) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``("item N", object)`` for a file holding one JSON list (TVQA+)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise BadInputError(path, f"line {e.lineno}", f"malformed JSON ({e.msg})") from e
    if not isinstance(data, list):
        raise BadInputError(path, None, f"expected a JSON list of questions, got {type(data).__name__}")
    for i, obj in enumerate(data):
        if not isinstance(obj, dict):
            on_bad(BadInputError(path, f"item {i}", f"expected a JSON object, got {type(obj).__name__}"))
            continue
        yield f"item {i}", obj


def iter_csv(path: str | Path) -> Iterator[tuple[int, str, list[str]]]:
    """Yield ``(row_index, "line N", columns)`` of a header-less CSV file."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        for i, row in enumerate(reader):
            yield i, f"line {reader.line_num}", row


# --------------------------------------------------------------------------------------------------
# field helpers: each raises ValueError with a short problem text


def _field(obj: dict[str, Any], key: str) -> Any:
    if key not in obj:
        raise ValueError(f"missing field {key!r}")
    return obj[key]


def _str(obj: dict[str, Any], key: str) -> str:
    value = _field(obj, key)
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} must be a string, got {type(value).__name__}")
    return value


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{what} must be a number, got {value!r}")
    try:
        x = float(value)
    except ValueError:
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return x


def _int(value: Any, what: str) -> int:
    x = _number(value, what)
    if not x.is_integer():
        raise ValueError(f"{what} must be an integer, got {value!r}")
    return int(x)


def _span(value: Any, what: str) -> list[float]:
    """[st, ed] from a 2-list of numbers (TVR/TVQA+) or an ``"st-ed"`` string (TVQA)."""
    if isinstance(value, str):
        parts = value.split("-")
        if len(parts) != 2:
            raise ValueError(f"{what} string must look like 'st-ed', got {value!r}")
        value = parts
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{what} must be [start, end], got {value!r}")
    st, ed = _number(value[0], f"{what} start"), _number(value[1], f"{what} end")
    if ed < st:
        raise ValueError(f"{what} ends before it starts ({st} > {ed})")
    return [st, ed]


def _bracket_span(text: str, what: str) -> tuple[float, float]:
    """``"[a:b]"`` (How2 CSV) → (a, b)."""
    m = re.fullmatch(r"\s*\[\s*([^:\]]+?)\s*:\s*([^:\]]+?)\s*\]\s*", text)
    if not m:
        raise ValueError(f"{what} must look like '[start:end]', got {text!r}")
    a, b = _number(m.group(1), f"{what} start"), _number(m.group(2), f"{what} end")
    if b < a:
        raise ValueError(f"{what} ends before it starts ({text})")
    return a, b


def _nan_span(value: str) -> bool:
    return isinstance(value, str) and "nan" in value.lower()


def _clip_relative(st: float, ed: float, clip_st: float, clip_len: float) -> tuple[list[float], bool]:
    """Absolute [st, ed] → clip-relative, clamped into [0, clip_len]; also whether clamping happened."""
    rel = [st - clip_st, ed - clip_st]
    clamped = [min(max(x, 0.0), clip_len) for x in rel]
    return [round(x, 6) for x in clamped], clamped != rel


# --------------------------------------------------------------------------------------------------
# subtitles and frame counts


def parse_subtitles(path: str | Path, on_bad: OnBad) -> Iterator[tuple[str, dict[str, Any]]]:
    """TV-subtitle jsonl: ``{"vid_name", "sub": [{"text","start","end"}...]}`` per line; an ASR jsonl may
    name the list ``"segments"`` (Whisper's name; other fields of a segment are ignored).

    Yields ``(where, {"vid_name", "sub"})``; ``sub`` may be empty (the caller decides). Duplicate videos,
    missing fields, non-numeric or reversed times are bad records.
    """
    seen: dict[str, str] = {}
    for where, obj in iter_jsonl(path, on_bad):
        try:
            vid = _str(obj, "vid_name")
            key = "segments" if "sub" not in obj and "segments" in obj else "sub"  # ASR (Whisper) output
            subs = _field(obj, key)
            if not isinstance(subs, list):
                raise ValueError(f"field {key!r} must be a list, got {type(subs).__name__}")
            clean = []
            for i, s in enumerate(subs):
                if not isinstance(s, dict):
                    raise ValueError(f"subtitle {i} is not an object")
                try:
                    text = _str(s, "text")
                    st, ed = _span([_field(s, "start"), _field(s, "end")], "time")
                except ValueError as e:
                    raise ValueError(f"subtitle {i}: {e}") from None
                clean.append({"text": text, "start": st, "end": ed})
            if vid in seen:
                raise ValueError(f"duplicate video {vid!r} (first at {seen[vid]})")
        except ValueError as e:
            on_bad(BadInputError(path, where, str(e)))
            continue
        seen[vid] = where
        yield where, {"vid_name": vid, "sub": clean}


def read_frame_counts(path: str | Path) -> dict[str, int]:
    """Per-video frame counts from a ``{vid: n}`` JSON file or a video db directory (its id2nframe.json)."""
    path = Path(path)
    if path.is_dir():
        path = path / "id2nframe.json"
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise BadInputError(path, None, "frame-count file not found") from None
    except json.JSONDecodeError as e:
        raise BadInputError(path, f"line {e.lineno}", f"malformed JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise BadInputError(path, None, "expected a JSON object {video: number of frames}")
    counts = {}
    for vid, n in data.items():
        try:
            counts[vid] = _int(n, f"frame count of {vid!r}")
        except ValueError as e:
            raise BadInputError(path, None, str(e)) from None
    return counts


# --------------------------------------------------------------------------------------------------
# retrieval queries


def parse_tvr(path: str | Path, on_bad: OnBad) -> Iterator[tuple[str, dict[str, Any]]]:
    """TVR jsonl (train/val: desc_id, desc, vid_name, ts, duration, type; test: desc, desc_id)."""
    for where, obj in iter_jsonl(path, on_bad):
        try:
            rec = dict(obj)
            rec["desc_id"] = _int(_field(obj, "desc_id"), "desc_id")
            rec["desc"] = _str(obj, "desc")
            rec["vid_name"] = _str(obj, "vid_name") if "vid_name" in obj else None
            rec["ts"] = _span(obj["ts"], "ts") if obj.get("ts") is not None else None
            rec["duration"] = _number(obj["duration"], "duration") if obj.get("duration") is not None else None
            rec["type"] = obj.get("type")
        except ValueError as e:
            on_bad(BadInputError(path, where, str(e)))
            continue
        yield where, rec


def how2_clip_name(youtube_id: str, clip_st: float, clip_ed: float) -> str:
    """How2 clip names as in how2_vid_mapping.json: ``{youtube_id}_{clip_st}_{clip_ed}`` (integers)."""
    return f"{youtube_id}_{_num_text(clip_st)}_{_num_text(clip_ed)}"


def _num_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def parse_how2r(path: str | Path, on_bad: OnBad) -> Iterator[tuple[str, dict[str, Any]]]:
    """How2R CSV ``youtube_id, [clip_st:clip_ed], [moment_st:moment_ed], query`` (test: +1 empty column).

    Moment times are absolute in the YouTube video: ``ts`` is made clip-relative and clamped to the clip.
    ``desc_id`` is the 0-based row index in the file (the same query may appear on several rows).
    """
    for row_idx, where, row in iter_csv(path):
        try:
            if len(row) == 5 and not row[4].strip():
                row = row[:4]  # test_public rows carry one empty trailing column
            if len(row) != 4:
                raise ValueError(f"expected 4 columns (youtube_id, [clip], [moment], query), got {len(row)}")
            yt, clip_txt, moment_txt, query = (c.strip() for c in row)
            if not yt:
                raise ValueError("empty youtube_id")
            cs, ce = _bracket_span(clip_txt, "clip")
            ms, me = _bracket_span(moment_txt, "moment")
            if ce <= cs:
                raise ValueError(f"empty clip {clip_txt}")
            ts, clamped = _clip_relative(ms, me, cs, ce - cs)
        except ValueError as e:
            on_bad(BadInputError(path, where, str(e)))
            continue
        yield where, {
            "desc_id": row_idx,
            "desc": query,
            "vid_name": how2_clip_name(yt, cs, ce),
            "ts": ts,
            "duration": ce - cs,
            "type": None,  # How2R has no query type; present so TVR and How2R records share their keys
            "youtube_id": yt,
            "clip": [cs, ce],
            "moment": [ms, me],
            "moment_clamped": clamped,
        }


# --------------------------------------------------------------------------------------------------
# QA


def _answers(obj: dict[str, Any], n: int) -> list[str]:
    return [_str(obj, f"a{i}") for i in range(n)]


def _answer_idx(value: Any, n: int) -> int:
    idx = _int(value, "answer_idx")  # TVQA+: a string such as "3"
    if not 0 <= idx < n:
        raise ValueError(f"answer_idx {idx} out of range 0..{n - 1}")
    return idx


def _parse_tvqa_like(
    path: str | Path, items: Iterator[tuple[str, dict[str, Any]]], on_bad: OnBad
) -> Iterator[tuple[str, dict[str, Any]]]:
    for where, obj in items:
        try:
            rec = dict(obj)
            rec["qid"] = _int(_field(obj, "qid"), "qid")
            rec["q"] = _str(obj, "q")
            rec["answers"] = _answers(obj, 5)
            rec["vid_name"] = _str(obj, "vid_name")
            label = obj.get("answer_idx")
            rec["answer_idx"] = None if label is None or label == "" else _answer_idx(label, 5)
            ts = obj.get("ts")
            if isinstance(ts, str):
                rec["ts_raw"] = ts
            rec["ts"] = None if ts is None or _nan_span(ts) else _span(ts, "ts")  # "NaN-NaN": unknown
        except ValueError as e:
            on_bad(BadInputError(path, where, str(e)))
            continue
        yield where, rec


def parse_tvqa(path: str | Path, on_bad: OnBad) -> Iterator[tuple[str, dict[str, Any]]]:
    """TVQA jsonl: ``ts`` is a string ``"st-ed"`` (→ floats), test split has no ``answer_idx``."""
    yield from _parse_tvqa_like(path, iter_jsonl(path, on_bad), on_bad)


def parse_tvqa_plus(path: str | Path, on_bad: OnBad) -> Iterator[tuple[str, dict[str, Any]]]:
    """TVQA+ json list: ``answer_idx`` is a string (→ int), ``ts`` a float list, plus ``bbox``."""
    yield from _parse_tvqa_like(path, iter_json_list(path, on_bad), on_bad)


def how2qa_answer_order(key: str, n: int) -> list[int]:
    """Deterministic per-question permutation of the How2QA answers (CSV order: 3 wrong, then correct),
    so the correct answer is not always last. Seeded by a hash of the question, not by Python's salted
    ``hash``, so every run and machine gives the same order."""
    seed = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "little")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


def parse_how2qa(path: str | Path, on_bad: OnBad) -> Iterator[tuple[str, dict[str, Any]]]:
    """How2QA CSV ``youtube_id, [st:ed], wrong_1, wrong_2, wrong_3, question, correct_answer``.

    The span is absolute in the YouTube video and there is no clip column: the clip is the 60 s window
    containing the span start (``clip_st = floor(st/60)*60``), named like How2R clips; ``ts`` is
    clip-relative, clamped to the clip. ``qid`` is the 0-based row index; answers are shuffled with
    :func:`how2qa_answer_order`.
    """
    for row_idx, where, row in iter_csv(path):
        try:
            if len(row) != 7:
                raise ValueError(f"expected 7 columns (youtube_id, [st:ed], 3 wrong answers, question, answer), "
                                 f"got {len(row)}")
            yt, span_txt, w1, w2, w3, question, correct = (c.strip() for c in row)
            if not yt:
                raise ValueError("empty youtube_id")
            st, ed = _bracket_span(span_txt, "span")
            clip_st = math.floor(st / HOW2_CLIP_SECONDS) * HOW2_CLIP_SECONDS
            ts, clamped = _clip_relative(st, ed, clip_st, HOW2_CLIP_SECONDS)
        except ValueError as e:
            on_bad(BadInputError(path, where, str(e)))
            continue
        csv_answers = [w1, w2, w3, correct]
        order = how2qa_answer_order(f"{yt}|{st!r}|{ed!r}|{question}|{correct}", len(csv_answers))
        yield where, {
            "qid": row_idx,
            "q": question,
            "answers": [csv_answers[i] for i in order],
            "answer_idx": order.index(len(csv_answers) - 1),
            "ts": ts,
            "vid_name": how2_clip_name(yt, clip_st, clip_st + HOW2_CLIP_SECONDS),
            "duration": float(HOW2_CLIP_SECONDS),
            "youtube_id": yt,
            "span": [st, ed],
            "span_clamped": clamped,
            "wrong_answers": [w1, w2, w3],
            "correct_answer": correct,
        }


QUERY_PARSERS: dict[str, Callable[[str | Path, OnBad], Iterator[tuple[str, dict[str, Any]]]]] = {
    "tvr": parse_tvr,
    "how2r": parse_how2r,
    "tvqa": parse_tvqa,
    "tvqa_plus": parse_tvqa_plus,
    "how2qa": parse_how2qa,
}
