"""The video-only pass: frames through the whole backbone without any subtitle text.

Losses that align text with frames (SNP-S3's LVWM, LF-VILA's MTC) need frame representations that have not
read the text they are compared with, or the alignment is trivial. Each subtitle row keeps its frames (so the
Cross-modal Transformer still contextualises the frames a subtitle owns) but loses its tokens; rows owning
no frame are dropped. Frames owned by no subtitle get only their transformed raw feature, as in the full pass.
"""
from __future__ import annotations

from dataclasses import replace

import torch

from .hero import HeroModel
from .inputs import CrossModalInputs, VideoInputs


def strip_subtitle_text(video: VideoInputs) -> VideoInputs:
    """``video`` with every subtitle row reduced to its frames (text slots masked out, frameless rows gone)."""
    inputs = video.cross_modal
    frames_per_row = torch.bincount(video.owned_row, minlength=inputs.frame_feats.shape[0])  # (S,)
    keep = frames_per_row > 0
    new_row = torch.cumsum(keep.long(), 0) - 1  # old row → row among the kept ones
    frames_per_row = frames_per_row[keep]
    max_frames = inputs.frame_feats.shape[1]
    width = max(int(frames_per_row.max()) if len(frames_per_row) else 0, 1)
    slot = torch.arange(width, device=frames_per_row.device)[None]  # (1, N)
    mfm = inputs.frame_mfm_mask
    frames_only = CrossModalInputs(
        text_ids=inputs.text_ids[keep], text_positions=inputs.text_positions,
        frame_feats=inputs.frame_feats[keep], frame_positions=inputs.frame_positions,
        gather_index=slot.clamp(max=max_frames - 1).expand(len(frames_per_row), width),
        attention_mask=slot < frames_per_row[:, None],
        frame_mfm_mask=None if mfm is None else mfm[keep])
    return replace(video, cross_modal=frames_only, owned_row=new_row[video.owned_row])


def encode_video_only(hero: HeroModel, video: VideoInputs) -> torch.Tensor:
    """Final frame representations (B, L, D) of the video-only pass (no subtitle text anywhere)."""
    return hero(strip_subtitle_text(video))
