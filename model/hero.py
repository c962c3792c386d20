"""The HERO backbone: Cross-modal Transformer → frames back in time order → Temporal Transformer.

Returns representations only; every loss lives in a head (``model/heads``) and every task model
(``HeroFor<Task>``) is this backbone plus heads.
"""
from __future__ import annotations

from functools import partial

import torch
from torch import nn

from .config import HeroModelConfig
from .cross_modal import CrossModalTransformer
from .inputs import TextInputs, VideoInputs
from .layers import LinearLayer, init_bert_weights
from .temporal import TemporalTransformer


class HeroModel(nn.Module):
    """Hierarchical video+subtitle encoder (the reference's ``HierarchicalVlModel``)."""

    def __init__(self, config: HeroModelConfig) -> None:
        super().__init__()
        self.config = config
        self.cross_modal = CrossModalTransformer(config)
        self.frame_transform = LinearLayer(
            config.vfeat_dim, config.hidden_size, dropout=config.f_config.hidden_dropout_prob)
        # MFM: learned vector added to the residual branch's masked frames (row 0 to the others).
        self.clip_mask_embedding = nn.Embedding(2, config.vfeat_dim)
        self.temporal = TemporalTransformer(config.c_config, config.temporal_attention)
        self.apply(partial(init_bert_weights, std=config.f_config.initializer_range))

    def fuse_frames(self, video: VideoInputs) -> torch.Tensor:
        """Cross-modal outputs put back at their frames + transformed raw features, (B, L, D).

        This is the Temporal Transformer's input (the reference's ``forward_repr(encode_clip=False)``).
        Frames owned by no subtitle get only the transformed raw feature.
        """
        clip_feats = video.clip_feats
        if video.clip_mfm_mask is not None:
            mask = video.clip_mfm_mask
            clip_feats = clip_feats.masked_fill(mask[..., None], 0.0) + self.clip_mask_embedding(mask.long())
        residual = self.frame_transform(clip_feats)  # (B, L, D)
        fused = self.cross_modal(video.cross_modal)  # (S, N, D)
        # One vectorised scatter: every frame belongs to at most one subtitle, so this is an assignment.
        owned_states = fused[video.owned_row, video.owned_slot].to(residual.dtype)  # (K, D)
        matched = residual.new_zeros(residual.shape).index_put(
            (video.owned_video, video.owned_frame), owned_states)
        return residual + matched

    def segment_anchor(self, video: VideoInputs) -> torch.Tensor | None:
        """First frame of each frame's subtitle (the frame itself when unowned), (B, L); only computed
        when the Temporal Transformer's windows are aligned to subtitles."""
        attention = self.config.temporal_attention
        if not (attention.windowed and attention.align == "subtitles"):
            return None
        num_videos, num_frames = video.clip_mask.shape
        anchor = torch.arange(num_frames, device=video.clip_mask.device).repeat(num_videos, 1)
        num_rows = video.cross_modal.attention_mask.shape[0]
        first = torch.full((num_rows,), num_frames, dtype=torch.long, device=anchor.device).scatter_reduce(
            0, video.owned_row, video.owned_frame, "amin", include_self=True)
        anchor[video.owned_video, video.owned_frame] = first[video.owned_row]
        return anchor

    def forward(self, video: VideoInputs) -> torch.Tensor:
        """Final frame representations (B, L, D)."""
        return self.temporal(self.fuse_frames(video), video.clip_mask, self.segment_anchor(video))

    def encode_text(self, text: TextInputs) -> torch.Tensor:
        """Text-only Cross-modal pass (queries), (Q, T, D)."""
        return self.cross_modal.encode_text(text)
