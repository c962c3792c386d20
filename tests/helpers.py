"""Shared builders for tests: a tiny model config and random (seeded) clips and batches."""
from __future__ import annotations

import torch

from data.loading.collate import VideoItem
from model.config import HeroModelConfig, TransformerConfig

PAD, CLS, SEP, MASK = 1, 0, 2, 4
VOCAB = 99
FIXTURE = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "hero_reference_parity.pt"


def tiny_config(hidden: int = 32, heads: int = 4, f_layers: int = 2, c_layers: int = 1,
                vfeat_dim: int = 12, vocab: int = VOCAB, max_clip_len: int = 20) -> HeroModelConfig:
    def trm(layers: int, types: int = 2) -> TransformerConfig:
        return TransformerConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                                 intermediate_size=2 * hidden + 5, vocab_size=vocab, type_vocab_size=types,
                                 max_position_embeddings=64)
    return HeroModelConfig(f_config=trm(f_layers), c_config=trm(c_layers), q_config=trm(0, 1),
                           vfeat_dim=vfeat_dim, max_frm_seq_len=20, max_clip_len=max_clip_len)


def random_item(generator: torch.Generator, num_frames: int, num_subs: int, vfeat_dim: int,
                uncovered_every: int = 5) -> VideoItem:
    """A clip whose subtitles own consecutive frame runs; some frames are owned by no subtitle and
    some subtitles own no frame, like real data."""
    owner = torch.full((num_frames,), -1, dtype=torch.long)
    bounds = torch.linspace(0, num_frames, num_subs + 1).long()
    for sub in range(num_subs):
        owner[bounds[sub]:bounds[sub + 1]] = sub
    owner[::uncovered_every] = -1
    if num_subs > 2:
        owner[owner == 1] = -1  # subtitle 1 owns nothing
    rows = [[SEP, *torch.randint(5, VOCAB, (int(n),), generator=generator).tolist()]
            for n in torch.randint(1, 7, (num_subs,), generator=generator)]
    return VideoItem(torch.randn(num_frames, vfeat_dim, generator=generator), owner, rows)


def random_items(seed: int = 0, lengths: tuple[int, ...] = (7, 5, 9), vfeat_dim: int = 12) -> list[VideoItem]:
    generator = torch.Generator().manual_seed(seed)
    return [random_item(generator, n, max(2, n // 2), vfeat_dim) for n in lengths]
