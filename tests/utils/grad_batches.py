"""A fixed multi-clip batch and tiny model shared by the distributed tests and their workers."""
from __future__ import annotations

import numpy as np
import torch

from data.loading.lvwm_dataset import LvwmExample, collate_lvwm
from data.loading.mtc_dataset import MtcExample, collate_mtc, draw_units
from data.loading.task_collate import MlmExample, collate_mlm, collate_retrieval
from model.heads.mtc import MtcConfig
from model.heads.retrieval import RetrievalLossConfig
from model.pretrain import HeroForPretraining
from tests.helpers import CLS, PAD, SEP, random_items, tiny_config
from utils.trainer import set_dropout

NUM_CLIPS = 4


def build_model(gather=None) -> HeroForPretraining:
    torch.manual_seed(1234)
    kwargs = {} if gather is None else {"gather": gather}
    model = HeroForPretraining(tiny_config(), vsm_loss=RetrievalLossConfig(
        lw_st_ed=0.5, lw_neg_ctx=1.0, lw_neg_q=1.0, use_all_neg=True), mtc=MtcConfig(), **kwargs)
    set_dropout(model, 0.0)  # gradients must be deterministic to compare runs
    return model.train()


def batches_for(clips: list[int]) -> dict[str, object]:
    items = random_items(seed=11, lengths=(6, 8, 5, 7))
    chosen = [items[c] for c in clips]
    queries = [[[CLS, 5 + c, 6 + c, 7], [CLS, 9 + c]] for c in clips]
    spans = [[[0, 2], [1, 3]] for _ in clips]
    mlm = [MlmExample(items[c].frame_feats[:2], [CLS, 4, 10 + c, 4], [-1, 20 + c, -1, 30 + c]) for c in clips]
    # LVWM: two queries per clip, bags = the frames of its first / last subtitle, in-batch negatives across ranks
    lvwm = [LvwmExample(items[c], [[CLS, 5 + c, 6 + c, 7, 8], [CLS, 9 + c, 10]], np.array([[1, 2, 3], [1, 2, 2]]),
                        [np.flatnonzero(items[c].frame_owner.numpy() == 0),
                         np.flatnonzero(items[c].frame_owner.numpy() == int(items[c].frame_owner.max()))])
            for c in clips]
    return {"vsm": collate_retrieval(chosen, queries, spans, PAD), "mlm": collate_mlm(mlm, PAD),
            "lvwm": collate_lvwm(lvwm, PAD), "mtc": mtc_batch(items, clips)}


def mtc_batch(items, clips: list[int]):
    """MTC on the chosen clips: every subtitle owning frames is a unit; draws depend on the clip only."""
    examples = []
    for c in clips:
        item = items[c]
        owner = item.frame_owner.numpy()
        subs = np.unique(owner[owner >= 0])
        unit_of = {int(s): u for u, s in enumerate(subs)}
        frame_unit = torch.tensor([unit_of.get(int(o), -1) for o in owner])
        text = [[CLS, 10 + c, 20 + int(s), 30 + c * int(s)] for s in subs]
        keys, values, draw = draw_units(len(subs), 2, 2, np.random.default_rng([7, c]))
        empty = type(item)(item.frame_feats, item.frame_owner, [[SEP]] * len(item.subtitle_ids))
        examples.append(MtcExample(empty, frame_unit, text, keys, values, draw))
    return collate_mtc(examples, PAD)
