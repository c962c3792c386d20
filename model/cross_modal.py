"""Cross-modal Transformer: each subtitle sequence = its frames followed by its tokens (§1.4)."""
from __future__ import annotations

import torch
from torch import nn

from .config import HeroModelConfig
from .embeddings import FrameEmbeddings, TextEmbeddings
from .inputs import CrossModalInputs, TextInputs
from .layers import PackedLayout, TransformerStack


class CrossModalTransformer(nn.Module):
    """Text and frame embeddings + ``f_config.num_hidden_layers`` BERT layers.

    Subtitle sequences are ragged (a few to ~40 slots), so the layers run on the valid slots only
    (:class:`PackedLayout`); the result is the same as running the padded batch, without its work.
    """

    def __init__(self, config: HeroModelConfig) -> None:
        super().__init__()
        self.text_embeddings = TextEmbeddings(config.f_config)
        self.frame_embeddings = FrameEmbeddings(
            config.f_config, config.vfeat_dim, config.max_frm_seq_len)
        self.encoder = TransformerStack(config.f_config)

    def embed(self, inputs: CrossModalInputs) -> tuple[torch.Tensor, PackedLayout]:
        """Embeddings of the valid packed slots, (V, D) in row-major order, and their layout.

        Packed slot j of row s reads ``gather_index[s, j]`` in ``[frame slots (F) ; text slots (T)]``.
        """
        layout = PackedLayout.from_mask(inputs.attention_mask)
        width = inputs.attention_mask.shape[1]
        rows, columns = layout.index // width, layout.index % width
        source = inputs.gather_index[rows, columns]
        max_frames = inputs.frame_feats.shape[1]
        is_frame = source < max_frames
        frame_at = torch.nonzero(is_frame, as_tuple=True)[0]
        text_at = torch.nonzero(~is_frame, as_tuple=True)[0]
        frame_rows, frame_slots = rows[frame_at], source[frame_at]
        text_rows, text_slots = rows[text_at], source[text_at] - max_frames
        mfm = inputs.frame_mfm_mask
        frames = self.frame_embeddings(
            inputs.frame_feats[frame_rows, frame_slots], inputs.frame_positions[frame_slots],
            self.text_embeddings.type_vector(),
            None if mfm is None else mfm[frame_rows, frame_slots])  # (Vf, D)
        text = self.text_embeddings(inputs.text_ids[text_rows, text_slots],
                                    inputs.text_positions[text_slots])  # (Vt, D)
        dtype = torch.promote_types(frames.dtype, text.dtype)
        flat = text.new_zeros((len(layout.index), text.shape[-1]), dtype=dtype)
        flat = flat.index_put((frame_at,), frames.to(dtype)).index_put((text_at,), text.to(dtype))
        return flat, layout

    def forward(self, inputs: CrossModalInputs) -> torch.Tensor:
        """Contextualised packed sequences (S, N, D); padding slots are zero."""
        flat, layout = self.embed(inputs)
        return layout.to_padded(self.encoder(flat, layout.key_mask, layout))

    def encode_text(self, text: TextInputs) -> torch.Tensor:
        """Text-only pass (queries): (Q, T) → (Q, T, D), padding slots zero.

        Packed like the subtitle sequences: only attention sees the padded grid, so a batch of queries
        of 8–22 tokens costs its tokens, not Q × the longest.
        """
        layout = PackedLayout.from_mask(text.mask)
        columns = layout.index % text.mask.shape[1]
        flat = self.text_embeddings(text.ids.flatten()[layout.index], text.positions[columns])  # (V, D)
        return layout.to_padded(self.encoder(flat, layout.key_mask, layout))
