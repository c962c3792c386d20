"""HeroForVideoQA: TVQA / How2QA with temporal localisation (§4.3)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import HeroModelConfig
from .heads.qa import VideoQaHead
from .hero import HeroModel
from .inputs import VideoQaBatch
from .outputs import VideoQaOutput


class HeroForVideoQA(nn.Module):
    """The QA text is appended to every subtitle sequence and to the Temporal Transformer input.

    Every video is replicated once per answer candidate (row b·K + k), so the Cross-modal outputs are
    candidate specific, exactly as the reference computes them.
    """

    def __init__(self, config: HeroModelConfig, lw_st_ed: float = 0.4) -> None:
        super().__init__()
        self.config = config
        self.lw_st_ed = lw_st_ed
        if config.temporal_attention.windowed:
            raise ValueError("temporal_attention.windows (HTWA) is not supported by video QA: its QA tokens join "
                             "the frame sequence of the Temporal Transformer; use global attention")
        self.hero = HeroModel(config)
        self.qa_head = VideoQaHead(config.hidden_size)

    def forward(self, batch: VideoQaBatch) -> VideoQaOutput:
        hero = self.hero
        fused = hero.temporal.embeddings(hero.fuse_frames(batch.video))  # (B·K, L, D)
        qa = hero.cross_modal.text_embeddings(batch.qa_text.ids, batch.qa_text.positions)
        num_frames = fused.shape[1]
        hidden = hero.temporal.encoder(
            torch.cat([fused, qa.to(fused.dtype)], dim=1),
            torch.cat([batch.video.clip_mask, batch.qa_text.mask], dim=1))[:, :num_frames]
        num_questions = len(batch.answer_targets)
        frames = hidden.reshape(num_questions, -1, *hidden.shape[1:])  # (B, K, L, D)
        frame_mask = batch.video.clip_mask.view(num_questions, -1, num_frames)
        logits, st_logits, ed_logits = self.qa_head(frames, frame_mask)
        answers = batch.answer_targets
        qa_loss = (F.cross_entropy(logits.float(), answers, ignore_index=-1)
                   if bool((answers >= 0).any()) else logits.new_zeros((), dtype=torch.float32))
        spans = batch.span_targets
        if bool((spans >= 0).any()):
            temporal_loss = (F.cross_entropy(st_logits.float(), spans[:, 0], ignore_index=-1)
                             + F.cross_entropy(ed_logits.float(), spans[:, 1], ignore_index=-1)) / 2
        else:
            temporal_loss = logits.new_zeros((), dtype=torch.float32)
        return VideoQaOutput(loss=qa_loss + self.lw_st_ed * temporal_loss, logits=logits,
                             qa_loss=qa_loss, temporal_loss=temporal_loss,
                             st_logits=st_logits, ed_logits=ed_logits)
