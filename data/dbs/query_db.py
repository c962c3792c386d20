"""Query db: retrieval queries (TVR, How2R) or QA items (TVQA, TVQA+, How2QA) with their token ids.

Record (key = ``str(desc_id)`` or ``str(qid)``): the raw annotation fields, the normalised fields of
:mod:`data.annotations`, and ``input_ids``:
- retrieval: ``input_ids`` = ids of ``desc``;
- QA: ``input_ids`` = ``[ids(q), ids(answer_0), ids(answer_1), ...]``.

Side files: ``meta.json`` (format, task type, tokenizer, special ids, vocab size, whether labels exist),
``id2len.json`` (id → token count; QA: list ``[len(q), len(a0), ...]``), ``query2video.json`` (id → video,
only for queries whose video is known), ``query_data.jsonl`` (the normalised records without token ids,
ground truth for evaluators) and optionally ``video2idx.json`` (official video indices for submissions).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from data.dbs.codec import read_json
from data.dbs.db_reader import DbError, LmdbDatabase
from data.dbs.released_layout import ReleasedFormatError, query_meta, read_jsonl
from data.dbs.storage import AtomicDbWriter
from data.prepro.annotations import QA_FORMATS, QUERY_PARSERS, BadInputError, BadInputPolicy
from data.prepro.tokenization import TextTokenizer, as_tokenizer


class QueryDb(LmdbDatabase):
    """Reader of a query db (lazy, fork-safe, picklable).

    Args:
        path: db directory written by :func:`build_query_db`, or a released HERO query db (``tvr_val.db``,
            ``tvqa_val.db``, …; its records already hold ``input_ids``, ``vid_name``, ``ts``, …).
    """

    kind = "queries"

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.id2len: dict[str, Any] = self.side_json("id2len.json", {})
        self.query2video: dict[str, str] = self.side_json("query2video.json", {})
        if self.released is not None:
            self._released_side_files()
        self.video2idx: dict[str, int] | None = self.side_json("video2idx.json")
        self.video2queries: dict[str, list[str]] = {}
        for qid, vid in self.query2video.items():
            self.video2queries.setdefault(vid, []).append(qid)

    def _released_side_files(self) -> None:
        """Task facts of a released query db (its meta.json records none), from id2len.json and the raw
        annotations in query_data.jsonl (the ground truth, as the reference evaluator reads it)."""
        if not self.id2len:
            raise DbError(f"{self.path}: side file id2len.json is missing or empty (the query ids)")
        data = self.path / "query_data.jsonl"
        try:
            records = read_jsonl(data) if data.is_file() else None
        except ReleasedFormatError as error:
            raise DbError(str(error)) from None
        self.meta.update(query_meta(self.path, self.id2len, records))
        self.meta["storage"]["num_records"] = len(self.id2len)
        if not self.query2video and records:
            field = self.meta["id_field"]
            self.query2video = {str(r[field]): r["vid_name"] for r in records if r.get("vid_name") and field in r}

    def __getitem__(self, qid: str | int) -> dict[str, Any]:
        """The record of one query (``qid`` may be the int id)."""
        return self._get(str(qid))

    def __contains__(self, qid: object) -> bool:
        return str(qid) in self.id2len

    def __len__(self) -> int:
        return len(self.id2len)

    def ids(self) -> list[str]:
        """Query ids (strings), in file order."""
        return list(self.id2len)

    @property
    def format(self) -> str:
        """Annotation format the db was built from (tvr, how2r, tvqa, tvqa_plus, how2qa)."""
        return str(self.meta["format"])

    @property
    def is_qa(self) -> bool:
        """True for QA dbs (``input_ids`` is a list of question + answers)."""
        return self.meta["task_type"] == "qa"

    @property
    def has_labels(self) -> bool:
        """True when every query has its ground truth (moment / answer)."""
        return bool(self.meta["has_labels"])


def read_video_index(path: str | Path, split: str | None = None) -> dict[str, int]:
    """Official video indices from TVR's ``{split: {vid: [duration, idx]}}`` or How2's ``{idx: vid}``.

    With ``split``, only that split's videos (a TVR-style index is required): they are the candidate
    corpus of that split's queries, as in the reference (``vid2dur_idx[split]``). Without it, every split.
    """
    data = read_json(path)
    if not isinstance(data, dict):
        raise BadInputError(path, None, "expected a JSON object")
    splits = {k: v for k, v in data.items() if isinstance(v, dict)}
    if split is not None:
        if not splits:
            raise BadInputError(path, None, f"has no splits, so video split {split!r} cannot be selected "
                                            "(drop --video-split to use every video)")
        if split not in splits:
            raise BadInputError(path, None, f"has no split {split!r}; it has {', '.join(sorted(splits))}")
        data = {split: splits[split]}
    out: dict[str, int] = {}
    for key, value in data.items():
        if isinstance(value, dict):  # TVR video2dur_idx: one mapping per split
            out.update({vid: int(v[1]) for vid, v in value.items()})
        elif isinstance(value, str) and key.isdigit():  # how2_vid_mapping: idx → name
            out[value] = int(key)
        else:
            raise BadInputError(path, None, f"unrecognised video index entry {key!r}: {value!r}")
    return out


def build_query_db(
    annotation_path: str | Path,
    fmt: str,
    output: str | Path,
    tokenizer: str | Path | TextTokenizer | None = None,
    *,
    skip_bad: bool = False,
    overwrite: bool = False,
    compress: bool = False,
    video_index: str | Path | None = None,
    video_split: str | None = None,
    log: Callable[[str], None] | None = None,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
) -> dict[str, int]:
    """Parse, tokenise and store one annotation file.

    Args:
        annotation_path: TVR jsonl, How2R CSV, TVQA jsonl, TVQA+ json or How2QA CSV.
        fmt: one of ``tvr, how2r, tvqa, tvqa_plus, how2qa``.
        output: db directory to create (atomically).
        tokenizer: local tokenizer path or instance (default: the bundled MiniLM BERT tokenizer).
        skip_bad: skip bad records (counted) instead of stopping at the first.
        overwrite: replace an existing db.
        compress: lz4-compress records.
        video_index: optional TVR video2dur_idx / How2 vid-mapping JSON, copied as ``video2idx.json``
            (the candidate videos of retrieval evaluation).
        video_split: keep only this split of a TVR-style ``video_index`` (e.g. ``val``); every query's
            video must then be in it.
        log: receives one line per skipped bad record.
        progress: wraps the record iterator (e.g. ``tqdm``).

    Returns:
        Counts: ``queries``, ``videos``, ``labelled``, ``bad``.
    """
    if fmt not in QUERY_PARSERS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(QUERY_PARSERS)}")
    is_qa = fmt in QA_FORMATS
    if Path(output).exists() and not overwrite:  # fail before the slow parts
        raise FileExistsError(f"{output} already exists; pass --overwrite to replace it")
    policy = BadInputPolicy(skip=skip_bad, log=log)
    records = _unique_records(annotation_path, fmt, policy)  # parse first: bad input fails fast
    if not records:
        raise BadInputError(annotation_path, None, "no usable query in the file")
    video2idx = read_video_index(video_index, video_split) if video_index is not None else None
    if video2idx is not None:
        outside = [r for r in records if r.get("vid_name") and r["vid_name"] not in video2idx]
        if outside:
            where = f"split {video_split!r} of {video_index}" if video_split else str(video_index)
            raise BadInputError(annotation_path, None, f"{len(outside)} queries are on videos missing from "
                                f"{where}, e.g. {id_field_of(fmt)} {outside[0][id_field_of(fmt)]} on "
                                f"{outside[0]['vid_name']!r}")
    elif video_split is not None:
        raise ValueError("video_split needs a video_index")
    toker = as_tokenizer(tokenizer)
    _tokenise(records, toker, is_qa)
    id2len: dict[str, Any] = {}
    query2video: dict[str, str] = {}
    labelled = 0
    id_field = id_field_of(fmt)
    with AtomicDbWriter(output, "queries", compress=compress, overwrite=overwrite) as writer:
        lines = []
        for rec in progress(records) if progress is not None else records:
            key = str(rec[id_field])
            writer.put(key, rec)
            ids = rec["input_ids"]
            id2len[key] = [len(x) for x in ids] if is_qa else len(ids)
            if rec.get("vid_name"):
                query2video[key] = rec["vid_name"]
            labelled += _is_labelled(rec, is_qa)
            lines.append(json.dumps({k: v for k, v in rec.items() if k != "input_ids"}, ensure_ascii=False))
        writer.add_text("query_data.jsonl", "\n".join(lines) + "\n")
        writer.add_json("id2len.json", id2len)
        writer.add_json("query2video.json", query2video)
        if video2idx is not None:
            writer.add_json("video2idx.json", video2idx)
        writer.update_meta(
            kind="queries",
            format=fmt,
            task_type="qa" if is_qa else "retrieval",
            id_field=id_field,
            source=str(Path(annotation_path).resolve()),
            num_queries=len(records),
            num_videos=len(set(query2video.values())),
            has_labels=labelled == len(records),
            **toker.meta(),
        )
    return {"queries": len(records), "videos": len(set(query2video.values())), "labelled": labelled,
            "bad": policy.count, "past_end": sum(past_end(r) for r in records)}


def id_field_of(fmt: str) -> str:
    """The record field that identifies a query of this annotation format."""
    return "qid" if fmt in QA_FORMATS else "desc_id"


def _unique_records(path: str | Path, fmt: str, policy: BadInputPolicy) -> list[dict[str, Any]]:
    """All parsed records; a repeated id is a bad record (the first occurrence is kept)."""
    id_field = id_field_of(fmt)
    seen: dict[int, str] = {}
    out = []
    for where, rec in QUERY_PARSERS[fmt](path, policy):
        if rec[id_field] in seen:
            policy(BadInputError(path, where, f"duplicate {id_field} {rec[id_field]} (first at {seen[rec[id_field]]})"))
            continue
        blank = [name for name, text in _texts(rec) if not str(text).strip()]
        if blank:  # an empty query / question / answer would train and score on [CLS] alone
            policy(BadInputError(path, where, f"{id_field} {rec[id_field]}: empty {', '.join(blank)} text"))
            continue
        seen[rec[id_field]] = where
        out.append(rec)
    return out


def _texts(rec: dict[str, Any]) -> list[tuple[str, Any]]:
    """(name, text) of every text a query record holds: ``desc``, or ``q`` and the answers."""
    if "desc" in rec:
        return [("desc", rec["desc"])]
    return [("q", rec.get("q", "")), *((f"answer {i}", a) for i, a in enumerate(rec.get("answers", [])))]


def past_end(rec: dict[str, Any]) -> bool:
    """A moment that ends after its video (used clamped to the video)."""
    ts, duration = rec.get("ts"), rec.get("duration")
    return bool(ts and duration and float(ts[1]) > float(duration) + 1e-3)


def _tokenise(records: list[dict[str, Any]], toker: TextTokenizer, is_qa: bool) -> None:
    """Add ``input_ids`` in place with one batched tokenizer call (much faster than per record)."""
    if not is_qa:
        for rec, ids in zip(records, toker.encode_queries([r["desc"] for r in records])):
            rec["input_ids"] = ids
        return
    texts = [t for r in records for t in [r["q"], *r["answers"]]]
    flat = toker.encode_queries(texts)
    pos = 0
    for rec in records:
        n = 1 + len(rec["answers"])
        rec["input_ids"] = flat[pos:pos + n]
        pos += n


def _is_labelled(rec: dict[str, Any], is_qa: bool) -> int:
    if is_qa:
        return int(rec.get("answer_idx") is not None)
    return int(rec.get("ts") is not None and rec.get("vid_name") is not None)
