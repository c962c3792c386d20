"""The video-only pass of the HERO backbone: frames without any subtitle text.

Contrastive objectives that pair a subtitle (or words) with its frames (MTC here; LVWM of SNP-S3) must
not let the frames see that text, or the match is trivial. This pass keeps every subtitle sequence's
frames (and their grouping, positions and the Temporal Transformer) and drops its text slots: the packed
layout puts frames first, so the text is a suffix that an attention-mask change removes.
"""
from __future__ import annotations

from dataclasses import replace

import torch

from .hero import HeroModel
from .inputs import VideoInputs


def without_text(video: VideoInputs) -> VideoInputs:
    """``video`` with the text slots of every subtitle sequence masked out (frames kept)."""
    inputs = video.cross_modal
    frame_slots = inputs.gather_index < inputs.frame_feats.shape[1]  # (S, N)
    return replace(video, cross_modal=replace(inputs, attention_mask=inputs.attention_mask & frame_slots))


def video_only_frames(hero: HeroModel, video: VideoInputs) -> torch.Tensor:
    """Final frame representations (B, L, D) of the backbone run on the frames alone."""
    return hero(without_text(video))
