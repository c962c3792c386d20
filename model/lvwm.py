"""LVWM forward: significant words of each query (text-only pass) against the frames of the video-only pass.

Every rank gathers words, frames and bags of all ranks and computes the same global loss, as VSM does, so N
processes give the gradients of one process on the combined batch (see ``utils/distributed.py``).
"""
from __future__ import annotations

import torch

from .heads.lvwm import lvwm_bag_losses, word_frame_scores
from .heads.retrieval import Gather
from .hero import HeroModel
from .inputs import LvwmBatch
from .layers import mask_logits
from .outputs import LvwmOutput
from .video_only import encode_video_only


def lvwm_forward(hero: HeroModel, batch: LvwmBatch, temperature: float, gather: Gather) -> LvwmOutput:
    """MIL-NCE of word bags against frames over the gathered batch (model/heads/lvwm.py)."""
    frames = encode_video_only(hero, batch.video)  # (B, L, D)
    states = hero.encode_text(batch.queries)  # (Q, T, D)
    rows = torch.arange(len(states), device=states.device)[:, None]
    words = states[rows, batch.word_positions]  # (Q, K, D)
    device = frames.device
    # Global video index of every gathered query: its local index + the videos of the ranks before it.
    video_counts = gather(torch.tensor([frames.shape[0]], device=device))  # (world,)
    query_counts = gather(torch.tensor([len(words)], device=device))  # (world,)
    rank_of_query = torch.repeat_interleave(torch.arange(len(query_counts), device=device), query_counts)
    offsets = torch.cumsum(video_counts, 0) - video_counts
    query_video = gather(batch.query_video_index) + offsets[rank_of_query]  # (Qg,)
    all_frames, all_valid = gather(frames), gather(batch.video.clip_mask)  # (Bg, L, D), (Bg, L)
    all_words, all_moments = gather(words), gather(batch.moment_mask)  # (Qg, K, D), (Qg, L)
    num_videos, length = all_valid.shape
    own_video = query_video[:, None] == torch.arange(num_videos, device=device)[None]  # (Qg, Bg)
    positive = (own_video[:, :, None] & all_moments[:, None, :] & all_valid[None]).flatten(1)  # (Qg, Bg·L)
    scores = word_frame_scores(all_words, all_frames.flatten(0, 1), temperature)  # (Qg, Bg·L)
    frame_video = torch.arange(num_videos, device=device).repeat_interleave(length)
    losses = lvwm_bag_losses(scores, positive, query_video, frame_video, all_valid.flatten())
    video_scores = mask_logits(scores.view(-1, num_videos, length), all_valid[None]).amax(-1)  # (Qg, Bg)
    return LvwmOutput(loss=losses.mean(), query_losses=losses, video_scores=video_scores,
                      query_video=query_video)
