"""The dbs HERO released (``txt_db/``, ``video_db/``), read as they are: layout detection, value decoding and
the meta / record translation into what this library's readers return (hero-reference.md §3.1–3.4).

Released layouts:

- **text db** (subtitles ``tv_subtitles.db``, queries ``tvr_val.db``, ``tvqa_val.db``, …): an LMDB folder
  with a ``meta.json`` of the reference preprocessing (``BOS``/``CLS`` 0, ``PAD`` 1, ``EOS``/``SEP`` 2,
  ``MASK`` 50264, ``v_range``; no ``storage`` section) and side files. Values are
  ``lz4.frame(msgpack(record))`` written under ``msgpack_numpy.patch()``. A subtitle db has ``vid2len.json``
  (frames per video) and ``vid2dur_idx.json``; a query db ``id2len.json``, ``query2video.json`` and
  ``query_data.jsonl``.
- **video db** (``video_db/tv``): ``id2nframe.json`` beside an LMDB folder named
  ``{vfeat_version}_{vfeat_interval}[_compressed]`` (``resnet_slowfast_1.5``); values are
  ``msgpack({"features": array})`` (msgpack-numpy), or with ``_compressed`` the bytes of
  ``np.savez_compressed(features=…)``; features are stored fp16 or fp32 and read as float32.

Nothing is converted or copied, and nothing is unpickled: msgpack-numpy arrays are rebuilt from their dtype
string, shape and raw bytes (an object array, which msgpack-numpy pickles, is refused), and npz values are
opened with ``allow_pickle=False``.
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lz4.frame
import msgpack
import numpy as np

from data.dbs.codec import read_json

RELEASED_FORMAT = "hero-released"
# RoBERTa's <unk>: the released query dbs' meta.json does not always record it
ROBERTA_UNK = 3
VIDEO_LMDB_NAME = re.compile(r"^(?P<version>.+)_(?P<interval>\d+(?:\.\d+)?)(?P<compressed>_compressed)?$")
SUBTITLE_SIDE_FILES = ("vid2len.json", "sub_info.json", "vid2dur_idx.json")
QUERY_SIDE_FILES = ("query2video.json", "query_data.jsonl")


class ReleasedFormatError(ValueError):
    """A released db's folder or value does not follow the reference layout; the message says what."""


# --------------------------------------------------------------------------------------------- values
def _array_from_msgpack_numpy(obj: dict) -> Any:
    """msgpack_numpy's object hook, without its pickle branch: ``{nd, type, kind, shape, data}`` → array."""
    get = (lambda name: obj.get(name.encode(), obj.get(name))) if obj else None
    if get is None or get("nd") is None or get("data") is None:
        return obj
    dtype, kind, data = get("type"), get("kind") or b"", get("data")
    dtype = dtype.decode() if isinstance(dtype, bytes) else dtype
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "O" or (isinstance(dtype, str) and dtype.lstrip("|<>=") == "O"):
        raise ReleasedFormatError("an object array (msgpack-numpy pickles those; this reader never unpickles)")
    if kind == "V" or not isinstance(dtype, str) or not isinstance(data, (bytes, bytearray)):
        raise ReleasedFormatError(f"an array of unsupported dtype {dtype!r}")
    if not get("nd"):  # a numpy scalar
        return np.frombuffer(data, dtype=np.dtype(dtype))[0].item()
    shape = tuple(int(s) for s in get("shape"))
    return np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape).copy()


def decode_msgpack(data: bytes | memoryview) -> Any:
    """A msgpack value written under ``msgpack_numpy.patch()`` (arrays as msgpack-numpy maps)."""
    return msgpack.unpackb(bytes(data), raw=False, object_hook=_array_from_msgpack_numpy, strict_map_key=False)


def decode_text_value(data: bytes | memoryview) -> Any:
    """A released text db value: ``lz4.frame(msgpack(record))``."""
    return decode_msgpack(lz4.frame.decompress(data))


def decode_npz_features(data: bytes | memoryview) -> dict[str, np.ndarray]:
    """A compressed released video db value: the bytes of ``np.savez_compressed(features=…)``."""
    try:
        with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as npz:
            if "features" not in npz.files:
                raise ReleasedFormatError(f"field 'features' missing from the npz (it has {npz.files})")
            return {"features": npz["features"]}
    except zipfile.BadZipFile as error:
        raise ReleasedFormatError(f"not an npz ({error})") from None
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise ReleasedFormatError("field 'features' is an object array (loading it would need pickle, "
                                      "which this reader never runs)") from None
        raise


# --------------------------------------------------------------------------------------------- layouts
@dataclass
class ReleasedDb:
    """Where a released db's records and side files are, and how to read them.

    Attributes:
        folder: the folder holding the side files (``meta.json`` of text dbs, ``id2nframe.json`` of video dbs).
        lmdb_dir: the LMDB folder.
        decoder: bytes → record.
        meta: the meta of this library's readers (``storage``, ``special_ids``, ``vocab_size``, …) with the
            released ``meta.json`` under ``"released_meta"``.
    """

    folder: Path
    lmdb_dir: Path
    decoder: Callable[[bytes], Any]
    meta: dict[str, Any] = field(default_factory=dict)


def is_released_text_db(path: Path) -> bool:
    """A folder with LMDB files and a reference ``meta.json`` (no ``storage`` section of this library)."""
    meta = path / "meta.json"
    if not (meta.is_file() and (path / "data.mdb").is_file()):
        return False
    try:
        content = read_json(meta)
    except (OSError, ValueError):
        return False
    return isinstance(content, dict) and "storage" not in content


def released_text_kind(path: Path) -> str:
    """``"subtitles"`` or ``"queries"``, from the side files the reference writes beside each."""
    if any((path / name).is_file() for name in SUBTITLE_SIDE_FILES):
        return "subtitles"
    if any((path / name).is_file() for name in QUERY_SIDE_FILES) or (path / "id2len.json").is_file():
        return "queries"
    raise ReleasedFormatError(f"{path}: a released text db has vid2len.json (subtitles) or id2len.json + "
                              "query_data.jsonl (queries); this folder has neither")


def open_released_text_db(path: Path, kind: str) -> ReleasedDb:
    """The layout of a released subtitle or query db at ``path`` (checked to hold ``kind`` records)."""
    found = released_text_kind(path)
    if found != kind:
        raise ReleasedFormatError(f"{path} is a released {found} db, not a {kind} db; check the path")
    raw = read_json(path / "meta.json")
    missing = [name for name in ("CLS", "SEP", "PAD", "MASK") if not isinstance(raw.get(name), int)]
    if missing:
        raise ReleasedFormatError(f"{path}/meta.json: special id(s) {', '.join(missing)} missing or not ints")
    special = {"cls": raw["CLS"], "sep": raw["SEP"], "pad": raw["PAD"], "mask": raw["MASK"],
               "unk": int(raw.get("UNK", ROBERTA_UNK))}
    v_range = raw.get("v_range")
    if v_range is not None and not (isinstance(v_range, list) and len(v_range) == 2
                                    and all(isinstance(x, int) for x in v_range)):
        raise ReleasedFormatError(f"{path}/meta.json: v_range must be [low, high), got {v_range!r}")
    vocab = max(max(special.values()) + 1, v_range[1] if v_range else 0)  # RoBERTa: 50265
    tokenizer = raw.get("tokenizer", raw.get("toker"))
    meta: dict[str, Any] = {
        "storage": {"format": RELEASED_FORMAT, "kind": kind, "compression": "lz4", "num_records": None},
        "special_ids": special, "vocab_size": int(vocab), "v_range": v_range,
        "tokenizer": {"name": tokenizer if isinstance(tokenizer, str) else None},
        "released_meta": raw,
    }
    if kind == "subtitles":
        interval = raw.get("frame_length", raw.get("vfeat_interval"))
        meta["frame_interval"] = float(interval) if isinstance(interval, (int, float)) else None
    return ReleasedDb(path, path, decode_text_value, meta)


def query_meta(path: Path, id2len: dict[str, Any], records: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Task facts of a released query db: ``format``, ``task_type``, ``id_field``, ``has_labels``.

    QA dbs store ``id2len`` as a list per question (``[|q|, |a0|, …]``); labels come from
    ``query_data.jsonl`` (``records``; None when the file is absent: then no labels are assumed).
    """
    is_qa = any(isinstance(v, list) for v in id2len.values())
    prefix = path.name.split("_")[0].lower()
    fmt = prefix if prefix in ("tvr", "how2r", "tvqa", "how2qa") else ("tvqa" if is_qa else "tvr")
    if records is None:
        labelled = False
    elif is_qa:
        labelled = all(r.get("answer_idx") is not None for r in records)
    else:
        labelled = all(r.get("ts") is not None and r.get("vid_name") is not None for r in records)
    return {"format": fmt, "task_type": "qa" if is_qa else "retrieval", "id_field": "qid" if is_qa else "desc_id",
            "has_labels": bool(records) and labelled}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a jsonl file; a line that does not parse is one error naming the file and line."""
    out = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ReleasedFormatError(f"{path}: line {number} is not JSON ({error})") from None
    return out


def find_released_video_db(path: Path, version: str | None = None, interval: float | None = None,
                           compressed: bool | None = None) -> ReleasedDb | None:
    """The released video db at ``path`` (the dataset folder ``video_db/tv``, or its LMDB folder), or None
    when ``path`` is not one. Several LMDB folders (e.g. compressed and not) are told apart by
    ``version`` / ``interval`` (the run's ``vfeat_version``, ``vfeat_interval``); ``compressed``
    (``compressed_db``) chooses only when both encodings are there."""
    if ((path / "data.mdb").is_file() and not (path / "meta.json").is_file() and VIDEO_LMDB_NAME.match(path.name)
            and (path.parent / "id2nframe.json").is_file()):
        folder, candidates = path.parent, [path]
    elif (path / "id2nframe.json").is_file() and not (path / "meta.json").is_file():
        folder = path
        candidates = sorted(p for p in path.iterdir() if p.is_dir() and (p / "data.mdb").is_file()
                            and VIDEO_LMDB_NAME.match(p.name))
    else:
        return None
    chosen = [p for p in candidates if _video_lmdb_matches(p.name, version, interval, None)]
    if len(chosen) > 1 and compressed is not None:  # compressed_db picks one of the two encodings
        chosen = [p for p in chosen if _video_lmdb_matches(p.name, None, None, compressed)]
    if len(chosen) != 1:
        wanted = f"{version or '<version>'}_{interval if interval is not None else '<interval>'}[_compressed]"
        have = ", ".join(p.name for p in candidates) or "none"
        raise ReleasedFormatError(f"{folder}: expected one LMDB folder named {wanted} beside id2nframe.json "
                                  f"(set vfeat_version / vfeat_interval / compressed_db); found: {have}")
    lmdb_dir = chosen[0]
    match = VIDEO_LMDB_NAME.match(lmdb_dir.name)
    assert match is not None, "candidates match the pattern"
    is_compressed = bool(match["compressed"])
    meta = {"storage": {"format": RELEASED_FORMAT, "kind": "video_features",
                        "compression": "npz" if is_compressed else "none", "num_records": None},
            "frame_interval": float(match["interval"]), "vfeat_version": match["version"], "lmdb": lmdb_dir.name}
    return ReleasedDb(folder, lmdb_dir, decode_npz_features if is_compressed else decode_msgpack, meta)


def _video_lmdb_matches(name: str, version: str | None, interval: float | None, compressed: bool | None) -> bool:
    match = VIDEO_LMDB_NAME.match(name)
    if match is None:
        return False
    if version is not None and match["version"] != version:
        return False
    if interval is not None and abs(float(match["interval"]) - interval) > 1e-9:
        return False
    return compressed is None or bool(match["compressed"]) == compressed


def subtitle_record(where: str, key: str, record: Any, num_frames: int) -> dict[str, Any]:
    """A released subtitle record (``input_ids`` per subtitle, ``unique_sub2frames`` = ``[[sub_idx,
    [frames…]], …]``) as this library's record: ``frame_owner`` (num_frames,) int32, −1 = no subtitle.

    Frames listed beyond ``num_frames`` extend ``frame_owner`` (the reference's ``max_clip_len`` prefix
    rule sees them); the corpus later cuts the clip to its features.
    """
    def bad(name: str, problem: str) -> ReleasedFormatError:
        return ReleasedFormatError(f"{where}: record {key!r} field {name!r} {problem}")

    if not isinstance(record, dict):
        raise ReleasedFormatError(f"{where}: record {key!r} is a {type(record).__name__}, expected a map")
    for name in ("input_ids", "unique_sub2frames"):
        if not isinstance(record.get(name), list):
            raise bad(name, "is missing or not a list (damaged, or not a released subtitle db)")
    ids, pairs = record["input_ids"], record["unique_sub2frames"]
    if not all(isinstance(row, list) for row in ids):
        raise bad("input_ids", "must be a list of token-id lists")
    if not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], int) and isinstance(p[1], list)
               for p in pairs):
        raise bad("unique_sub2frames", "must be a list of [sub_idx, [frame, …]] pairs")
    subs = np.array([p[0] for p in pairs], dtype=np.int64)
    counts = np.array([len(p[1]) for p in pairs], dtype=np.int64)
    frames = np.array([f for p in pairs for f in p[1]], dtype=np.int64)
    if len(subs) and (subs.min() < 0 or subs.max() >= len(ids)):
        raise bad("unique_sub2frames", f"names subtitle {int(subs.max())} but the record has {len(ids)}")
    if len(frames) and frames.min() < 0:
        raise bad("unique_sub2frames", f"lists frame {int(frames.min())}")
    size = max(num_frames, int(frames.max()) + 1 if len(frames) else 0)
    owner = np.full(size, -1, dtype=np.int32)
    owner[frames] = np.repeat(subs, counts)
    return {"vid_name": record.get("vid_name", key), "sub": record.get("sub", []), "input_ids": ids,
            "frame_owner": owner, "sub2frames": record.get("sub2frames", []), "num_frames": int(num_frames)}
