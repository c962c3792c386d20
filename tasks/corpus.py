"""Opening the databases a run reads — the one place every task opens its corpus and query dbs, so every
check happens for every task: the folders exist, the subtitle and feature dbs agree, and the feature db's
seconds per frame are those the config says."""
from __future__ import annotations

import math
from pathlib import Path

from config.schema import ClipOptions
from data.dbs.corpus import VideoCorpus
from data.dbs.query_db import QueryDb
from data.dbs.video_db import VideoFeatureDb
from tasks.setup import SetupError


def existing_db(path: str | None, option: str) -> str:
    """``path`` if it is a db folder; else one line naming the option."""
    if not path:
        raise SetupError(f"{option} is not set")
    if not Path(path).is_dir():
        raise SetupError(f"{option}: db not found: {path}")
    return path


def open_corpus(sub_txt_db: str | None, vfeat_db: str | None, clips: ClipOptions, where: str = "") -> VideoCorpus:
    """The clips of a task (subtitle db + video feature db), checked against the config.

    Args:
        sub_txt_db, vfeat_db: the two db folders.
        clips: clip length, text length, subtitle context and the expected seconds per frame.
        where: prefix of every message (e.g. ``"target tv: "`` for a pre-training target).
    """
    sub_db = existing_db(sub_txt_db, f"{where}sub_txt_db")
    video_db = existing_db(vfeat_db, f"{where}vfeat_db")
    try:  # a released HERO video folder may hold several LMDB folders: the run's options pick one
        videos = VideoFeatureDb(video_db, clips.vfeat_version, clips.vfeat_interval, clips.compressed_db)
        corpus = VideoCorpus(sub_db, videos, clips.max_clip_len, clips.sub_ctx_len, clips.max_txt_len)
    except ValueError as error:
        raise SetupError(f"{where}{sub_db} + {video_db}: {error}") from error
    if not math.isclose(corpus.frame_interval, clips.vfeat_interval):
        raise SetupError(f"{where}vfeat_interval is {clips.vfeat_interval} s but {video_db} has "
                         f"{corpus.frame_interval} s per frame")
    return corpus


def open_query_db(path: str | None, option: str, kind: str) -> QueryDb:
    """A query db of ``kind`` ``"retrieval"`` (TVR / How2R) or ``"qa"`` (TVQA / How2QA)."""
    db = QueryDb(existing_db(path, option))
    if kind == "retrieval" and db.is_qa:
        raise SetupError(f"{option} {path} is a QA db; this task needs a retrieval (TVR / How2R) query db")
    if kind == "qa" and not db.is_qa:
        raise SetupError(f"{option} {path} is a retrieval db; this task needs a QA (TVQA / How2QA) db")
    return db
