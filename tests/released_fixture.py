"""A miniature HERO release written in the reference layouts (hero-reference.md §3.1–3.4, §5.7), from the spec
and not with this library's writers:

    root/txt_db/{tv,how2}_subtitles.db   lz4(msgpack) SubTokLmdb records, meta.json, vid2len.json, vid2dur_idx.json
    root/txt_db/{tvr,how2r}_{val,test_public}.db    TVR-style query dbs (desc_id keys, query_data.jsonl, …)
    root/txt_db/{tvqa,how2qa}_{val,test_public}.db  TVQA-style dbs ([q, a0…a4] ids, "st-ed" ts strings)
    root/video_db/tv/    id2nframe.json + resnet_slowfast_1.5_compressed/  (np.savez_compressed, fp16)
    root/video_db/how2/  id2nframe.json + resnet_slowfast_1.5/             (msgpack-numpy, fp16)
    root/finetune/{tvr,how2r,tvqa,how2qa}_default/  log/hps.json, log/model_config.json, ckpt/model_step_N.pt
                                                    (reference key names, fp16, vocab_padded)

msgpack-numpy's array layout is written by hand (the package is not a dependency):
``{b"nd": True, b"type": dtype.str, b"kind": b"", b"shape": shape, b"data": raw bytes}``.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmdb
import lz4.frame
import msgpack
import numpy as np
import torch

from data.prepro.alignment import align_subtitles
from model.vcmr import HeroForVcmr
from model.video_qa import HeroForVideoQA
from pretrained.checkpoint_file import model_config_dict
from pretrained.reference_keys import project_to_reference
from tests.helpers import tiny_config

FEATURE_DIM = 24
MAX_CLIP_LEN = 20
FRAME_INTERVAL = 1.5
VOCAB_PADDED = 50272  # RoBERTa's 50265 padded to a multiple of 8, as the released checkpoints
CHECKPOINT_STEP = {"tvr": 4800, "how2r": 4000, "tvqa": 6000, "how2qa": 5000}
ROBERTA_META = {"toker": "roberta-base", "BOS": 0, "EOS": 2, "SEP": 2, "CLS": 0, "PAD": 1, "MASK": 50264,
                "UNK": 3, "v_range": [4, 50265]}


def msgpack_numpy_default(obj: Any) -> Any:
    """What ``msgpack_numpy.encode`` writes for numpy values."""
    if isinstance(obj, np.ndarray):
        return {b"nd": True, b"type": obj.dtype.str, b"kind": b"", b"shape": list(obj.shape),
                b"data": np.ascontiguousarray(obj).tobytes()}
    if isinstance(obj, np.generic):
        return {b"nd": False, b"type": obj.dtype.str, b"data": obj.tobytes()}
    raise TypeError(type(obj))


def pack(record: Any) -> bytes:
    return msgpack.packb(record, use_bin_type=True, default=msgpack_numpy_default)


def write_lmdb(path: Path, values: dict[str, bytes]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    env = lmdb.open(str(path), map_size=1 << 26)
    with env.begin(write=True) as txn:
        for key, value in values.items():
            txn.put(key.encode("utf-8"), value)
    env.close()


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj))


def write_text_db(path: Path, records: dict[str, Any], meta: dict[str, Any], side: dict[str, Any]) -> None:
    """TxtLmdb: values ``lz4.frame.compress(msgpack.dumps(record, use_bin_type=True))``."""
    write_lmdb(path, {k: lz4.frame.compress(pack(r)) for k, r in records.items()})
    write_json(path / "meta.json", meta)
    for name, obj in side.items():
        if name.endswith(".jsonl"):
            (path / name).write_text("".join(json.dumps(line) + "\n" for line in obj))
        else:
            write_json(path / name, obj)


def write_video_db(video_root: Path, dataset: str, features: dict[str, np.ndarray], compressed: bool) -> Path:
    """VideoFeatLmdb: ``{video_root}/{dataset}/id2nframe.json`` + ``resnet_slowfast_1.5[_compressed]/``."""
    folder = video_root / dataset
    name = f"resnet_slowfast_{FRAME_INTERVAL}" + ("_compressed" if compressed else "")
    values = {}
    for vid, feats in features.items():
        if compressed:
            buffer = io.BytesIO()
            np.savez_compressed(buffer, features=feats)
            values[vid] = buffer.getvalue()
        else:
            values[vid] = pack({"features": feats})
    write_lmdb(folder / name, values)
    write_json(folder / "id2nframe.json", {vid: int(len(f)) for vid, f in features.items()})
    return folder


@dataclass
class Dataset:
    """One released dataset (TV or How2): its videos and what was written."""

    name: str
    videos: dict[str, int]                     # vid → frames
    splits: dict[str, list[str]]               # val / test_public → videos
    official: dict[str, int]                   # vid → official index
    subtitles: dict[str, dict[str, Any]] = field(default_factory=dict)   # vid → released record
    features: dict[str, np.ndarray] = field(default_factory=dict)        # vid → fp16 features


def _tokens(rng: np.random.Generator, low: int = 3, high: int = 8) -> list[int]:
    return rng.integers(4, 50264, size=int(rng.integers(low, high))).tolist()


def subtitle_record(rng: np.random.Generator, vid: str, num_frames: int, empty: bool = False) -> dict[str, Any]:
    """A SubTokLmdb record: raw ``sub``, ``input_ids`` per subtitle, the alignment fields."""
    if empty:  # no subtitles: 5-frame pseudo-subtitles with empty ids (prepro_sub.py allow_empty_sub)
        groups = [list(range(s, min(s + 5, num_frames))) for s in range(0, num_frames, 5)]
        return {"vid_name": vid, "sub": [], "input_ids": [[] for _ in groups],
                "unique_sub2frames": [[i, g] for i, g in enumerate(groups)], "sub2frames": [[i, g] for i, g in
                                                                                         enumerate(groups)],
                "unmatched_frames": [], "v_id": 0, "duration": num_frames, "max_mtached_sub_len": 5}
    subs, t = [], float(rng.uniform(0, 3))
    while t < num_frames * FRAME_INTERVAL - 1:
        length = float(rng.choice([0.4, 2.0, 3.5, 6.0]))
        subs.append({"text": f"line {len(subs)}", "start": round(t, 3), "end": round(t + length, 3)})
        t += length + float(rng.choice([0.0, 0.3, 2.5]))
    ali = align_subtitles([s["start"] for s in subs], [s["end"] for s in subs], num_frames, FRAME_INTERVAL)
    subs = [subs[i] for i in ali.kept]
    owned = [np.flatnonzero(ali.frame_owner == i).tolist() for i in range(len(subs))]
    return {"vid_name": vid, "sub": subs, "input_ids": [_tokens(rng) for _ in subs],
            "unique_sub2frames": [[i, f] for i, f in enumerate(owned)],
            "sub2frames": [[i, f] for i, f in enumerate(ali.sub2frames)],
            "unmatched_frames": np.flatnonzero(ali.frame_owner < 0).tolist(), "v_id": 0,
            "duration": num_frames, "max_mtached_sub_len": max(map(len, owned), default=0)}


def _dataset(name: str, vids: list[str], rng: np.random.Generator, base_index: int) -> Dataset:
    frames = {vid: int(rng.integers(8, 34)) for vid in vids}
    frames[vids[0]] = 31  # longer than MAX_CLIP_LEN: the prefix rule cuts subtitles
    val, test = vids[: len(vids) * 2 // 3], vids[len(vids) * 2 // 3:]
    ds = Dataset(name, frames, {"val": val, "test_public": test},
                 {vid: base_index + 7 * i for i, vid in enumerate(vids)})
    for i, vid in enumerate(vids):
        ds.subtitles[vid] = subtitle_record(rng, vid, frames[vid], empty=i == 2)
        ds.features[vid] = rng.standard_normal((frames[vid], FEATURE_DIM)).astype(np.float16)
    return ds


def write_subtitle_db(path: Path, ds: Dataset) -> None:
    meta = {**ROBERTA_META, "annotation": f"/data/{ds.name}_subtitles.jsonl", "frame_length": FRAME_INTERVAL,
            "vid2nframe": f"/data/{ds.name}_vid2nframe.json", "output": f"/txt/{ds.name}_subtitles.db"}
    dur_idx = {split: {vid: [ds.videos[vid] * FRAME_INTERVAL, ds.official[vid]] for vid in vids}
               for split, vids in ds.splits.items()}
    side = {"vid2len.json": ds.videos, "vid2dur_idx.json": dur_idx, "sub_info.json": {},
            "vid2max_frame_sub_len.json": {v: r["max_mtached_sub_len"] for v, r in ds.subtitles.items()}}
    write_text_db(path, ds.subtitles, meta, side)


def retrieval_queries(rng: np.random.Generator, ds: Dataset, split: str, first_id: int) -> list[dict[str, Any]]:
    out = []
    for n in range(12 if split == "val" else 5):
        vid = ds.splits[split][n % len(ds.splits[split])]
        duration = ds.videos[vid] * FRAME_INTERVAL
        st = float(rng.integers(0, int(duration) - 4))
        raw = {"desc_id": first_id + n, "desc": f"query {n}", "type": ["v", "t", "vt"][n % 3]}
        if split == "val":
            raw.update(vid_name=vid, ts=[st, min(st + float(rng.integers(2, 9)), duration)], duration=duration)
        out.append(raw)
    return out


def qa_queries(rng: np.random.Generator, ds: Dataset, split: str, first_id: int) -> list[dict[str, Any]]:
    out = []
    for n in range(10 if split == "val" else 4):
        vid = ds.splits[split][n % len(ds.splits[split])]
        st = float(rng.integers(0, 6))
        raw = {"qid": first_id + n, "q": f"question {n}?", **{f"a{k}": f"answer {k}" for k in range(5)},
               "vid_name": vid, "ts": f"{st:.2f}-{st + 4:.2f}", "show_name": "Friends"}
        if split == "val":
            raw["answer_idx"] = int(rng.integers(0, 5))
        out.append(raw)
    return out


def write_query_db(path: Path, raw: list[dict[str, Any]], rng: np.random.Generator, qa: bool) -> None:
    """prepro_query.py output: records = raw + input_ids + target; id2len, query2video, query_data.jsonl."""
    records, id2len, query2video = {}, {}, {}
    for item in raw:
        key = str(item["qid" if qa else "desc_id"])
        if qa:
            ids = [_tokens(rng)] + [_tokens(rng, 1, 5) for _ in range(5)]
            target = item.get("answer_idx")
        else:
            ids, target = _tokens(rng), item.get("ts")
        records[key] = {**item, "input_ids": ids, "target": target}
        id2len[key] = [len(x) for x in ids] if qa else len(ids)
        if "vid_name" in item:
            query2video[key] = item["vid_name"]
    meta = {**ROBERTA_META, "annotation": f"/data/{path.stem}.jsonl", "output": f"/txt/{path.name}"}
    write_text_db(path, records, meta, {"id2len.json": id2len, "query2video.json": query2video,
                                        "query_data.jsonl": raw})


def tiny_model_config():
    return tiny_config(vfeat_dim=FEATURE_DIM, vocab=VOCAB_PADDED, max_clip_len=MAX_CLIP_LEN)


def write_finetune_run(folder: Path, task: str, ds_name: str, seed: int) -> None:
    """A reference fine-tuning folder: log/hps.json (reference option names, original paths),
    log/model_config.json, ckpt/model_step_N.pt (reference keys, fp16, vocab_padded)."""
    torch.manual_seed(seed)
    config = tiny_model_config()
    model = HeroForVideoQA(config) if task in ("tvqa", "how2qa") else HeroForVcmr(config)
    state = {k: v.half() if v.is_floating_point() else v for k, v in project_to_reference(model.state_dict()).items()}
    state["vocab_padded"] = True
    (folder / "ckpt").mkdir(parents=True)
    (folder / "log").mkdir()
    torch.save(state, folder / "ckpt" / f"model_step_{CHECKPOINT_STEP[task]}.pt")
    write_json(folder / "log" / "model_config.json", model_config_dict(config))
    common = {"model_config": "config/hero_finetune.json", "checkpoint": "/pretrain/hero-tv-ht100.pt",
              "output_dir": f"/storage/{task}_default", "task": task, "sub_txt_db": f"/txt/{ds_name}_subtitles.db",
              "vfeat_db": f"/video/{ds_name}", "max_clip_len": MAX_CLIP_LEN, "max_txt_len": 60,
              "vfeat_version": "resnet_slowfast", "vfeat_interval": FRAME_INTERVAL,
              "compressed_db": ds_name == "tv", "seed": 77, "fp16": True, "n_workers": 4, "pin_mem": True,
              "rank": 0, "n_gpu": 8, "betas": [0.9, 0.98], "weight_decay": 0.01, "grad_norm": 1.0,
              "dropout": 0.1, "gradient_accumulation_steps": 2, "optim": "adamw", "sub_ctx_len": 0,
              "train_query_txt_db": f"/txt/{task}_train.db", "val_query_txt_db": f"/txt/{task}_val.db",
              "test_query_txt_db": f"/txt/{task}_test_public.db"}
    if task in ("tvqa", "how2qa"):
        hps = {**common, "train_batch_size": 4, "val_batch_size": 10, "learning_rate": 5e-05, "lr_mul": 10.0,
               "num_train_steps": 10000, "warmup_steps": 1000, "lw_st_ed": 0.4, "max_txt_len": 120}
    else:
        hps = {**common, "train_batch_size": 32, "val_batch_size": 20, "learning_rate": 1e-4,
               "num_train_steps": 5000, "warmup_steps": 500, "vcmr_eval_video_batch_size": 50,
               "vcmr_eval_q_batch_size": 80, "vcmr_eval_batch_size": 80, "eval_with_query_type": task == "tvr",
               "max_before_nms": 200, "max_after_nms": 100, "distributed_eval": True, "nms_thd": 0.5,
               "q2c_alpha": 20, "max_vcmr_video": 100, "full_eval_tasks": ["VCMR", "SVMR", "VR"],
               "min_pred_l": 2, "max_pred_l": 16, "drop_svmr_prob": 0.8, "lw_neg_q": 8.0, "lw_neg_ctx": 8.0,
               "lw_st_ed": 0.01, "ranking_loss_type": "hinge", "margin": 0.1, "hard_pool_size": [20],
               "hard_neg_weights": [10], "hard_negtiave_start_step": [2000], "train_span_start_step": 0,
               "use_all_neg": True}
    write_json(folder / "log" / "hps.json", hps)


@dataclass
class Release:
    root: Path
    tv: Dataset
    how2: Dataset

    @property
    def txt(self) -> Path:
        return self.root / "txt_db"

    @property
    def video(self) -> Path:
        return self.root / "video_db"

    @property
    def finetune(self) -> Path:
        return self.root / "finetune"


def write_release(root: Path, seed: int = 0) -> Release:
    """Write the whole miniature release under ``root``."""
    rng = np.random.default_rng(seed)
    tv = _dataset("tv", [f"friends_s01e{i:02d}_seg02_clip_{i % 3:02d}" for i in range(9)], rng, 1000)
    how2 = _dataset("how2", [f"yt{i:04d}abc.{i % 4}" for i in range(9)], rng, 0)
    txt, video = root / "txt_db", root / "video_db"
    txt.mkdir(parents=True)
    for ds, compressed in ((tv, True), (how2, False)):
        write_subtitle_db(txt / f"{ds.name}_subtitles.db", ds)
        write_video_db(video, ds.name, ds.features, compressed)
    ids = iter(range(10, 100000, 1000))
    for ds, retrieval, qa in ((tv, "tvr", "tvqa"), (how2, "how2r", "how2qa")):
        for split in ("val", "test_public"):
            write_query_db(txt / f"{retrieval}_{split}.db", retrieval_queries(rng, ds, split, next(ids)), rng, False)
            write_query_db(txt / f"{qa}_{split}.db", qa_queries(rng, ds, split, next(ids)), rng, True)
    for i, (task, ds_name) in enumerate((("tvr", "tv"), ("tvqa", "tv"), ("how2r", "how2"), ("how2qa", "how2"))):
        write_finetune_run(root / "finetune" / f"{task}_default", task, ds_name, seed + i)
    return Release(root, tv, how2)
