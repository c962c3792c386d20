"""Cross-modal Transformer: each subtitle sequence = its frames followed by its tokens (§1.4)."""
from __future__ import annotations

import torch
from torch import nn

from .config import HeroModelConfig
from .embeddings import FrameEmbeddings, TextEmbeddings
from .inputs import CrossModalInputs, TextInputs
from .layers import TransformerStack


class CrossModalTransformer(nn.Module):
    """Text and frame embeddings + ``f_config.num_hidden_layers`` BERT layers."""

    def __init__(self, config: HeroModelConfig) -> None:
        super().__init__()
        self.text_embeddings = TextEmbeddings(config.f_config)
        self.frame_embeddings = FrameEmbeddings(
            config.f_config, config.vfeat_dim, config.max_frm_seq_len)
        self.encoder = TransformerStack(config.f_config)

    def embed(self, inputs: CrossModalInputs) -> torch.Tensor:
        """Packed embeddings (S, N, D): each row's frames, then its tokens."""
        text = self.text_embeddings(inputs.text_ids, inputs.text_positions)  # (S, T, D)
        frames = self.frame_embeddings(
            inputs.frame_feats, inputs.frame_positions, self.text_embeddings.type_vector(),
            inputs.frame_mfm_mask)  # (S, F, D)
        both = torch.cat([frames, text], dim=1)  # (S, F + T, D)
        index = inputs.gather_index[..., None].expand(-1, -1, both.shape[-1])
        return torch.gather(both, 1, index)  # (S, N, D)

    def forward(self, inputs: CrossModalInputs) -> torch.Tensor:
        """Contextualised packed sequences (S, N, D)."""
        return self.encoder(self.embed(inputs), inputs.attention_mask)

    def encode_text(self, text: TextInputs) -> torch.Tensor:
        """Text-only pass (queries): (Q, T) → (Q, T, D)."""
        return self.encoder(self.text_embeddings(text.ids, text.positions), text.mask)
