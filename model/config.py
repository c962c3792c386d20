"""Architecture configuration of HERO, in the reference's JSON layout.

A model JSON (``config/hero_finetune.json``) has one sub-config per Transformer:
``f_config`` (Cross-modal Transformer, the text side is RoBERTa/BERT shaped), ``c_config``
(Temporal Transformer), ``q_config`` (query encoder; only its width matters), and optionally
``d_config`` (TVC decoder, not implemented yet but accepted so reference files load unchanged).
Top-level extras that the reference hard-coded as constants are optional keys here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class TransformerConfig:
    """One BERT-style Transformer (the reference's ``RobertaModelConfig``)."""

    hidden_size: int = 768
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: Literal["gelu"] = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 514
    type_vocab_size: int = 2
    vocab_size: int = 50272
    initializer_range: float = 0.02
    # Never set in the reference JSONs, so its class default 1e-12 applies to the two LayerNorms
    # inside every Transformer layer. Checkpoints were trained with it: keep it for parity.
    layer_norm_eps: float = 1e-12

    def __post_init__(self) -> None:
        if self.hidden_size % max(self.num_attention_heads, 1) != 0:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by "
                f"num_attention_heads {self.num_attention_heads}")


@dataclass
class TemporalAttentionConfig:
    """Attention span of each Temporal Transformer layer (LF-VILA's HTWA, lfvila-snps3.md §1.2).

    ``windows``: one entry per layer, a window in frames or None for global attention; None (the
    default) = every layer global, as HERO. Windows are non-overlapping and start at multiples of
    the window, or, with ``align: "subtitles"``, group frames by the first frame of their subtitle so
    no subtitle is split.
    """

    windows: list[int | None] | None = None
    align: Literal["fixed", "subtitles"] = "fixed"

    def __post_init__(self) -> None:
        bad = [w for w in self.windows or [] if w is not None and w < 1]
        if bad:
            raise ValueError(f"temporal_attention.windows: a window is a number of frames >= 1 or null, got {bad[0]}")

    @property
    def windowed(self) -> bool:
        return any(w is not None for w in self.windows or [])


@dataclass
class HeroModelConfig:
    """Sizes of every HERO component. Architecture only: no training options here."""

    f_config: TransformerConfig = field(default_factory=TransformerConfig)
    c_config: TransformerConfig = field(
        default_factory=lambda: TransformerConfig(num_hidden_layers=3))
    q_config: TransformerConfig = field(
        default_factory=lambda: TransformerConfig(num_hidden_layers=0, type_vocab_size=1))
    d_config: TransformerConfig | None = None
    vfeat_dim: int = field(default=4352, metadata={
        "help": "raw frame-feature size (ResNet-152 2048 + SlowFast 2304 in the paper)"})
    max_frm_seq_len: int = field(default=100, metadata={
        "help": "rows of the Cross-modal frame position table (frames per subtitle)"})
    max_clip_len: int = field(default=100, metadata={
        "help": "frames per clip; also the number of FOM classes"})
    temporal_attention: TemporalAttentionConfig = field(default_factory=TemporalAttentionConfig, metadata={
        "help": "per-layer temporal windows of the Temporal Transformer (HTWA); default all global"})
    text_vocab_size: int | None = field(default=None, metadata={
        "help": "real vocabulary size when f_config.vocab_size is padded to a multiple of 8; "
                "MLM predicts over these ids only (None = the whole table)"})

    @property
    def hidden_size(self) -> int:
        return self.f_config.hidden_size

    def __post_init__(self) -> None:
        sizes = {self.f_config.hidden_size, self.c_config.hidden_size, self.q_config.hidden_size}
        if len(sizes) != 1:
            raise ValueError(
                "f_config, c_config and q_config must share hidden_size, got "
                f"{self.f_config.hidden_size}/{self.c_config.hidden_size}/"
                f"{self.q_config.hidden_size}")
        windows = self.temporal_attention.windows
        if windows is not None and len(windows) != self.c_config.num_hidden_layers:
            raise ValueError(f"temporal_attention.windows has {len(windows)} entries for "
                             f"{self.c_config.num_hidden_layers} Temporal Transformer layers (c_config)")
