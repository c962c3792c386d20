"""The viewer's search box: free-text moment search over a corpus with a fine-tuned VCMR checkpoint
(``evaluation/free_text_search.py``, built by ``tasks/vcmr_search.py`` as ``inf_vcmr.py --query`` does), in the
viewer's query-detail format. The corpus embeddings are cached beside the checkpoint, one file per corpus,
re-encoded when the checkpoint or a db changes."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from config.loader import load_config
from config.schema import VcmrConfig
from tasks.vcmr_search import open_search
from utils.distributed import Distributed
from viewer.run_index import video_info


class CorpusSearch:
    """``search(text, k)`` → the top-k moments of a corpus, in the viewer's query-detail format."""

    def __init__(self, corpus_config: str | Path, checkpoint: str | Path, cache: Path | None = None,
                 log=print) -> None:
        cfg = load_config(VcmrConfig, corpus_config, ["--checkpoint", str(checkpoint)])
        checkpoint = Path(checkpoint)
        corpus_id = hashlib.sha1(json.dumps([str(Path(cfg.sub_txt_db).resolve()),
                                             str(Path(cfg.vfeat_db).resolve())]).encode()).hexdigest()[:12]
        path = cache or checkpoint.with_name(f"{checkpoint.stem}.corpus-{corpus_id}.pt")
        self.searcher = open_search(cfg, Distributed(), log, path, require_task_heads=True)

    def search(self, text: str, k: int = 10) -> dict[str, Any]:
        found = self.searcher.moments(text, k)
        moments = [{"rank": rank, "video": m.video, "st": m.start, "ed": m.end, "score": m.score, "iou": None}
                   for rank, m in enumerate(found, 1)]
        subtitles = self.searcher.corpus.subtitles
        return {"id": "search", "kind": "moment", "text": text, "type": None, "gt": None, "moments": moments,
                "videos": {v: video_info(subtitles, v, None) for v in sorted({m.video for m in found})}}
