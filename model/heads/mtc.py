"""MTC head: LF-VILA's multimodal temporal contrastive loss on subtitle units (lfvila-snps3.md §1.3).

A subtitle should be closer to the clip nearest to it in time than to clips further away, and the other
way round. Per video, K key units and V value units are drawn (by the dataset); each key's positive is
the nearest value (ties ignored). Candidates are the V values plus one unit of each of the R previous
videos of the (gathered) batch, b−1 … b−R. The released code also rolls by 0, i.e. takes a "negative"
from the *same* video, which can be a value or the positive itself; that is not copied here: shifts start
at 1 (and stop before wrapping round to the video itself when the batch has ≤ R videos).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

IGNORE = -100


@dataclass
class MtcConfig:
    """MTC options; defaults are LF-VILA's (``num_key 2``, ``num_value 2``, ``num_other_neg 3``, τ 0.05, w 0.25)."""

    num_keys: int = 2
    num_values: int = 2
    shifted_videos: int = 3
    temperature: float = 0.05
    weight: float = 0.25
    # LF-VILA takes the sentence's [CLS]; "mean" averages its token states instead (the pooling that
    # sentence-embedding text models such as all-MiniLM-L6-v2 were trained with).
    text_pooling: Literal["cls", "mean"] = "cls"

    def __post_init__(self) -> None:
        if min(self.num_keys, self.num_values) < 1 or self.shifted_videos < 0:
            raise ValueError(f"mtc: need num_keys, num_values >= 1 and shifted_videos >= 0, got "
                             f"{self.num_keys}, {self.num_values}, {self.shifted_videos}")
        if not self.temperature > 0:
            raise ValueError(f"mtc.temperature must be > 0, got {self.temperature}")


class MtcHead(nn.Module):
    """The two local projections of LF-VILA (``video_local_proj``, ``text_local_proj``), D → D."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.video_proj = nn.Linear(hidden, hidden)
        self.text_proj = nn.Linear(hidden, hidden)

    def forward(self, video_units: torch.Tensor, text_units: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, U, D) each → L2-normalised projections (B, U, D) each."""
        return (F.normalize(self.video_proj(video_units), dim=-1, eps=1e-6),
                F.normalize(self.text_proj(text_units), dim=-1, eps=1e-6))


def pool_sentences(states: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(N, T, D) text-only states → (N, D): the [CLS] state, or the mean over real tokens."""
    if pooling == "cls":
        return states[:, 0]
    weights = mask.to(states.dtype)[..., None]
    return (states * weights).sum(1) / weights.sum(1).clamp(min=1)


def nearest_value_labels(keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Index in ``values`` of the value nearest to each key, −100 when two values tie. (…, K), (…, V) → (…, K)."""
    distance = (keys[..., :, None] - values[..., None, :]).abs()  # (…, K, V)
    nearest = distance.min(-1, keepdim=True).values
    ties = (distance == nearest).sum(-1) > 1
    return torch.where(ties, torch.full_like(keys, IGNORE), distance.argmin(-1))


def unit_means(frames: torch.Tensor, frame_unit: torch.Tensor, num_units: int) -> torch.Tensor:
    """Mean frame representation of every unit: (B, L, D), (B, L) → (B, U, D) (0 for absent units)."""
    member = (frame_unit[..., None] == torch.arange(num_units, device=frames.device)).to(frames.dtype)  # (B, L, U)
    sums = torch.einsum("blu,bld->bud", member, frames)
    return sums / member.sum(1).clamp(min=1)[..., None]


def shifted_units(units: torch.Tensor, counts: torch.Tensor, draw: torch.Tensor, shifts: int) -> torch.Tensor:
    """One unit of each of the ``shifts`` previous videos, (B, R, D): video (b − s) mod B, s = 1..R, unit
    ⌊draw[b] · count⌋ of that video. R = min(shifts, B − 1): never the video itself."""
    num_videos = units.shape[0]
    shift = torch.arange(1, min(shifts, num_videos - 1) + 1, device=units.device)
    other = (torch.arange(num_videos, device=units.device)[:, None] - shift[None]) % num_videos  # (B, R)
    other_counts = counts[other]
    index = torch.minimum((draw[:, None] * other_counts).long(), other_counts - 1)
    return units[other, index]


def contrast(key_feats: torch.Tensor, candidates: torch.Tensor, labels: torch.Tensor, temperature: float
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CE of every key over its candidates. (B, K, D), (B, C, D), (B, K) → (loss, logits (B, K, C), hits (M,))."""
    logits = torch.einsum("bkd,bcd->bkc", key_feats, candidates).float() / temperature
    flat, targets = logits.flatten(0, 1), labels.flatten()
    valid = targets != IGNORE
    if not bool(valid.any()):
        return logits.sum() * 0.0, logits, valid[valid]
    loss = F.cross_entropy(flat[valid], targets[valid])
    return loss, logits, flat[valid].argmax(-1) == targets[valid]


def mtc_losses(video_units: torch.Tensor, text_units: torch.Tensor, counts: torch.Tensor, keys: torch.Tensor,
               values: torch.Tensor, labels: torch.Tensor, draw: torch.Tensor, config: MtcConfig):
    """Both directions over a (gathered) batch of normalised unit features (B, U, D).

    Returns ``(loss_t2v, loss_v2t, hits, logits_t2v, logits_v2t)``.
    """
    def pick(units: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:  # (B, U, D), (B, P) → (B, P, D)
        return units.gather(1, positions[..., None].expand(-1, -1, units.shape[-1]))

    video_candidates = torch.cat([pick(video_units, values),
                                  shifted_units(video_units, counts, draw, config.shifted_videos)], 1)
    text_candidates = torch.cat([pick(text_units, values),
                                 shifted_units(text_units, counts, draw, config.shifted_videos)], 1)
    loss_t2v, logits_t2v, hits_t2v = contrast(pick(text_units, keys), video_candidates, labels, config.temperature)
    loss_v2t, logits_v2t, hits_v2t = contrast(pick(video_units, keys), text_candidates, labels, config.temperature)
    return loss_t2v, loss_v2t, torch.cat([hits_t2v, hits_v2t]), logits_t2v, logits_v2t
