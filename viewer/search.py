"""Free-text moment search over a corpus with a fine-tuned VCMR checkpoint: the query path of ``inf_vcmr.py``
for a text typed by a user. The corpus is encoded once (and cached on disk beside the checkpoint, keyed by the
checkpoint and the dbs, so a restart does not re-encode); each search encodes one query and decodes its
moments with the run's decoding options."""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from config.loader import load_config, section
from config.schema import ClipOptions, MomentEvalOptions, RetrievalOptions, VcmrConfig, WeightOptions
from data.loading.retrieval_datasets import collate_queries
from data.prepro.tokenization import TextTokenizer
from evaluation.vcmr_inference import CorpusEmbeddings, DecodeOptions, MomentScorer, encode_corpus
from model.vcmr import HeroForVcmr
from pretrained.loading import DataShape, from_pretrained
from tasks.corpus import open_corpus
from tasks.loss_schedule import retrieval_loss
from utils.atomic_io import atomic_torch_save
from utils.distributed import Distributed
from viewer.run_index import video_info


class CorpusSearch:
    """``search(text, k)`` → the top-k moments of a corpus, in the viewer's query-detail format."""

    def __init__(self, corpus_config: str | Path, checkpoint: str | Path, cache: Path | None = None,
                 log=print) -> None:
        cfg = load_config(VcmrConfig, corpus_config, ["--checkpoint", str(checkpoint)])
        self.corpus = open_corpus(cfg.sub_txt_db, cfg.vfeat_db, section(cfg, ClipOptions))
        loss = retrieval_loss(section(cfg, RetrievalOptions))
        shape = DataShape(self.corpus.feature_dim, self.corpus.token_ids.vocab_size, cfg.max_clip_len)
        self.model = from_pretrained(lambda c: HeroForVcmr(c, loss), section(cfg, WeightOptions), shape,
                                     require_task_heads=True).model.eval()
        self.names = sorted(self.corpus.ids())
        self.tokenizer = TextTokenizer(self.corpus.subtitles.meta["tokenizer"]["path"])
        self.max_txt_len = cfg.max_txt_len
        embeddings = self._embeddings(cfg, Path(checkpoint), cache, log)
        decoding = DecodeOptions.from_config(section(cfg, MomentEvalOptions), self.corpus.frame_interval)
        self.scorer = MomentScorer(self.model, embeddings, decoding)

    def _embeddings(self, cfg: VcmrConfig, checkpoint: Path, cache: Path | None, log) -> CorpusEmbeddings:
        key = hashlib.sha1(json.dumps([str(checkpoint.resolve()), checkpoint.stat().st_mtime_ns,
                                       str(Path(cfg.sub_txt_db).resolve()), str(Path(cfg.vfeat_db).resolve()),
                                       cfg.max_clip_len]).encode()).hexdigest()[:16]
        path = cache or checkpoint.with_name(f"{checkpoint.stem}.corpus-{key}.pt")
        if path.is_file():
            saved = torch.load(path, weights_only=True)
            if saved.get("key") == key:
                log(f"corpus embeddings from {path}")
                return CorpusEmbeddings(saved["frames"], saved["mask"], saved["lengths"], saved["official"].numpy())
        video2idx = {v: i for i, v in enumerate(self.names)}
        log(f"encoding {len(self.names)} videos of {cfg.vfeat_db} (cached in {path})")
        emb = encode_corpus(self.model, self.corpus, self.names, video2idx, cfg.vcmr_eval_video_batch_size,
                            Distributed())
        atomic_torch_save({"key": key, "frames": emb.frames, "mask": emb.mask, "lengths": emb.lengths,
                           "official": torch.from_numpy(emb.official)}, path)
        return emb

    @torch.no_grad()
    def search(self, text: str, k: int = 10) -> dict[str, Any]:
        tokens = self.tokenizer.encode_queries([text])[0][: self.max_txt_len]
        if not tokens:
            raise ValueError(f"the query {text!r} has no tokens")
        ids = self.corpus.token_ids
        batch = collate_queries([{"qid": "search", "ids": [ids.cls, *tokens], "vid": None, "span": (-1, -1),
                                  "seconds": (math.nan, math.nan)}], ids.pad)
        vectors = self.model.encode_queries(batch.queries)
        rows = self.scorer.decode(vectors, [None])[0].get("VCMR", np.zeros((0, 4)))
        moments = [{"rank": rank, "video": self.names[int(r[0])], "st": float(r[1]), "ed": float(r[2]),
                    "score": float(r[3]), "iou": None} for rank, r in enumerate(rows[:k], 1)]
        videos = {m["video"] for m in moments}
        return {"id": "search", "kind": "moment", "text": text, "type": None, "gt": None, "moments": moments,
                "videos": {v: video_info(self.corpus.subtitles, v, None) for v in sorted(videos)}}
