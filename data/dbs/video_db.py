"""Video feature db: per video, one feature vector per frame (HERO: ResNet-152 2048-d ‖ SlowFast 2304-d).

Record (key = ``vid_name``): ``{"features": array (num_frames, dim)}`` stored as float32 or float16;
the reader always returns float32. Side files: ``id2nframe.json`` (vid → frames) and ``meta.json``
(``feature_dim``, ``stored_dtype``, ``frame_interval``, ``components`` = the concatenated parts).

The ``.npz`` reader (:func:`iter_npz_features`) pairs per-video files of several feature folders by file
name, truncates the streams to the shortest (extractors disagree by a frame at the clip end) and
concatenates them in folder order.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data.dbs.db_reader import DbError, PerVideoDatabase
from data.dbs.released_layout import ReleasedDb, ReleasedFormatError, find_released_video_db
from data.dbs.storage import AtomicDbWriter
from data.prepro.annotations import BadInputError, BadInputPolicy, OnBad


class VideoFeatureDb(PerVideoDatabase):
    """Reader of a video feature db (lazy, fork-safe, picklable).

    Args:
        path: db directory written by :func:`build_video_db`, or a released HERO video db: the dataset
            folder (``video_db/tv``: ``id2nframe.json`` + an LMDB folder ``{version}_{interval}[_compressed]``)
            or that LMDB folder.
        vfeat_version, vfeat_interval, compressed: which LMDB folder of a released dataset folder to read
            when it holds several (the run's ``vfeat_version``, ``vfeat_interval``, ``compressed_db``).
    """

    kind = "video_features"
    layout_hint = (", and no id2nframe.json beside an LMDB folder named {vfeat_version}_{vfeat_interval}"
                   "[_compressed] as HERO's video_db/<dataset>")

    def __init__(self, path: str | Path, vfeat_version: str | None = None, vfeat_interval: float | None = None,
                 compressed: bool | None = None) -> None:
        self._variant = (vfeat_version, vfeat_interval, compressed)
        super().__init__(path)
        if self.released is not None:  # the feature size is whatever the first record holds
            first = self._reader.first_keys(1)
            if not first:
                raise DbError(f"{self.released.lmdb_dir}: the video db holds no record")
            feats = self._field(first[0], self._reader.get(first[0]), "features", np.ndarray)
            if feats.ndim != 2:
                raise DbError(f"{self.released.lmdb_dir}: video {first[0]!r} field 'features' has shape "
                              f"{feats.shape}, expected (frames, dim)")
            self.meta.update(feature_dim=int(feats.shape[1]), stored_dtype=str(feats.dtype))

    def _released_layout(self) -> ReleasedDb | None:
        try:
            return find_released_video_db(self.path, *self._variant)
        except ReleasedFormatError as error:
            raise DbError(str(error)) from None

    def __getitem__(self, vid_name: str) -> np.ndarray:
        """Features of one video, float32 ``(num_frames, feature_dim)``."""
        return self.get(vid_name)

    def get(self, vid_name: str, max_frames: int | None = None) -> np.ndarray:
        """Features of one video, float32, optionally only the first ``max_frames`` frames."""
        feats = self._get(vid_name)["features"]
        if max_frames is not None:
            feats = feats[:max_frames]
        return feats.astype(np.float32, copy=False)

    def _checked(self, key: str, record: Any) -> Any:
        """Every record read is checked: the features are a finite (frames, feature_dim) float array, so
        damaged bytes or NaN never reach a model (a NaN feature silently turns every score into NaN)."""
        feats = self._field(key, record, "features", np.ndarray)
        problem = _feature_problem(feats, self.feature_dim)
        if problem:
            raise DbError(f"{self.path}: video {key!r} field 'features': {problem}; rebuild the db "
                          "(scripts/convert_videodb.py checks features when building)")
        return record

    @property
    def id2nframe(self) -> dict[str, int]:
        """``{vid: frames}`` (a copy)."""
        return dict(self._id2nframe)

    @property
    def feature_dim(self) -> int:
        """Feature size per frame."""
        return int(self.meta["feature_dim"])

    @property
    def frame_interval(self) -> float:
        """Seconds per frame."""
        return float(self.meta["frame_interval"])


def build_video_db(
    items: Iterable[tuple[str, np.ndarray]],
    output: str | Path,
    *,
    frame_interval: float = 1.5,
    components: Sequence[dict[str, Any]] | Callable[[], Sequence[dict[str, Any]]] | None = None,
    expected_dim: int | None = None,
    fp16: bool = False,
    compress: bool = False,
    overwrite: bool = False,
    on_bad: OnBad | None = None,
    extra_meta: dict[str, Any] | None = None,
) -> dict[str, int]:
    """Write ``(vid_name, features (n, dim))`` pairs to a video feature db.

    Every video must have the same ``dim`` (the first good video fixes it unless ``expected_dim`` is
    given), at least one frame and finite values; violations go to ``on_bad`` (strict by default).

    Args:
        items: ``(vid_name, array)`` pairs (e.g. from :func:`iter_npz_features`).
        output: db directory to create (atomically).
        frame_interval: seconds per frame (recorded).
        components: description of the concatenated parts, e.g. ``[{"name": "resnet", "dim": 2048}, ...]``,
            or a callable returning it once all items are consumed (when the dims are only known then).
        expected_dim: required feature size.
        fp16: store float16 (half the size; the reader returns float32).
        compress: lz4-compress records.
        overwrite: replace an existing db.
        on_bad: bad-record policy (default: raise).
        extra_meta: more fields for ``meta.json``.

    Returns:
        Counts: ``videos``, ``frames``, ``feature_dim``.
    """
    on_bad = on_bad if on_bad is not None else BadInputPolicy(skip=False)
    dim = expected_dim
    id2nframe: dict[str, int] = {}
    with AtomicDbWriter(output, "video_features", compress=compress, overwrite=overwrite) as writer:
        for vid, feats in items:
            feats = np.asarray(feats)
            problem = _feature_problem(feats, dim)
            if problem is None and vid in id2nframe:
                problem = "duplicate video"
            if problem is not None:
                on_bad(BadInputError(f"video {vid}", None, problem))
                continue
            dim = feats.shape[1]
            writer.put(vid, {"features": feats.astype(np.float16 if fp16 else np.float32)})
            id2nframe[vid] = int(feats.shape[0])
        if not id2nframe:
            raise BadInputError(str(output), None, "no usable video features")
        if callable(components):
            components = components()
        comps = list(components) if components else [{"name": "features", "dim": dim}]
        if sum(int(c["dim"]) for c in comps) != dim:
            raise ValueError(f"component dims {[c['dim'] for c in comps]} do not add up to feature_dim {dim}")
        writer.add_json("id2nframe.json", id2nframe)
        writer.update_meta(
            kind="video_features",
            feature_dim=int(dim),
            stored_dtype="float16" if fp16 else "float32",
            frame_interval=float(frame_interval),
            components=comps,
            num_videos=len(id2nframe),
            **(extra_meta or {}),
        )
    return {"videos": len(id2nframe), "frames": sum(id2nframe.values()), "feature_dim": int(dim)}


def _feature_problem(feats: np.ndarray, dim: int | None) -> str | None:
    if feats.ndim != 2:
        return f"features must be 2-D (frames, dim), got shape {feats.shape}"
    if feats.shape[0] == 0:
        return "no frames"
    if not np.issubdtype(feats.dtype, np.floating):
        return f"features must be floating point, got {feats.dtype}"
    if dim is not None and feats.shape[1] != dim:
        return f"feature dim mismatch: {feats.shape[1]}, expected {dim}"
    if not np.isfinite(feats).all():
        return "non-finite values (NaN/inf) in the features"
    return None


# --------------------------------------------------------------------------------------------------
# per-video .npz folders


def list_npz(folder: str | Path) -> dict[str, Path]:
    """``{video name: file}`` for every ``*.npz`` under ``folder`` (recursive; name = file stem)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInputError(folder, None, "feature folder not found")
    found: dict[str, Path] = {}
    for p in sorted(folder.rglob("*.npz")):
        if p.stem in found:
            raise BadInputError(p, None, f"duplicate video name {p.stem!r} (also {found[p.stem]})")
        found[p.stem] = p
    return found


def load_npz_array(path: Path, key: str) -> np.ndarray:
    """The ``key`` array of one ``.npz`` file; unreadable files and missing keys are ``BadInputError``."""
    try:
        with np.load(path, allow_pickle=False) as z:
            names = list(z.files)
            array = z[key] if key in names else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # a truncated file is a bad zip
        raise BadInputError(path, None, f"cannot read npz ({e})") from None
    if array is None:
        raise BadInputError(path, None, f"no array {key!r} (has {', '.join(names) or 'nothing'})")
    return array


def iter_npz_features(
    folders: Sequence[str | Path],
    on_bad: OnBad,
    key: str = "features",
    stats: dict[str, Any] | None = None,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
    expected_dims: Sequence[int | None] | None = None,
) -> Iterator[tuple[str, np.ndarray]]:
    """Pair ``<folder>/<vid>.npz`` across folders and yield ``(vid, concatenated features)``.

    Videos missing from some folder, unreadable files and per-folder dim mismatches go to ``on_bad``.
    Streams of different lengths are truncated to the shortest; ``stats["truncated"]`` counts videos
    whose lengths differed and ``stats["max_length_gap"]`` the largest difference.

    Args:
        folders: feature folders, concatenated in this order (HERO: resnet then slowfast).
        on_bad: bad-record policy.
        key: array name inside each npz.
        stats: dict updated with ``truncated`` / ``max_length_gap`` and ``dims`` (per folder, once seen).
        progress: wraps the video-name iterator (e.g. ``tqdm``).
        expected_dims: required dim per folder (None = inferred from the first good video).
    """
    stats = stats if stats is not None else {}
    stats.setdefault("truncated", 0)
    stats.setdefault("max_length_gap", 0)
    listings = [list_npz(f) for f in folders]
    names = sorted(set().union(*listings))
    dims: list[int | None] = list(expected_dims) if expected_dims is not None else [None] * len(folders)
    if len(dims) != len(folders):
        raise ValueError(f"{len(dims)} expected dims for {len(folders)} feature folders")
    stats["dims"] = dims  # filled in as videos are read
    for vid in progress(names) if progress is not None else names:
        missing = [str(folders[i]) for i, lst in enumerate(listings) if vid not in lst]
        if missing:
            on_bad(BadInputError(f"video {vid}", None, f"no features in {', '.join(missing)}"))
            continue
        try:
            parts = [load_npz_array(lst[vid], key) for lst in listings]
            for i, arr in enumerate(parts):
                if arr.ndim != 2 or arr.shape[0] == 0:
                    raise BadInputError(listings[i][vid], None, f"expected (frames>0, dim) features, got {arr.shape}")
                if dims[i] is not None and arr.shape[1] != dims[i]:
                    raise BadInputError(listings[i][vid], None,
                                        f"feature dim mismatch: {arr.shape[1]}, expected {dims[i]} "
                                        f"(other videos of {folders[i]})")
        except BadInputError as e:
            on_bad(e)
            continue
        lengths = [a.shape[0] for a in parts]
        n = min(lengths)
        if max(lengths) != n:
            stats["truncated"] += 1
            stats["max_length_gap"] = max(stats["max_length_gap"], max(lengths) - n)
        for i, arr in enumerate(parts):
            dims[i] = arr.shape[1]
        yield vid, np.concatenate([a[:n].astype(np.float32, copy=False) for a in parts], axis=1)
