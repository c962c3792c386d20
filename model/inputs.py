"""Typed, tensor-only inputs of the HERO models (what collation produces and forward consumes).

Shape letters: B videos, L frames per video (padded), S subtitle sequences in the batch, F frames
per subtitle (padded), T text tokens (padded), N = packed length of a subtitle sequence
(max over rows of its frames + tokens), Q queries, K answer candidates, Dv raw feature size.
Masks are bool with True = keep / real.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TypeVar

import torch

T = TypeVar("T")


class TensorContainer:
    """Mixin: move or pin every tensor field (recursively through nested containers)."""

    def _map(self: T, fn) -> T:
        changes = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                changes[f.name] = fn(value)
            elif isinstance(value, TensorContainer):
                changes[f.name] = value._map(fn)
        return replace(self, **changes)  # type: ignore[type-var]

    def to(self: T, device: torch.device | str, non_blocking: bool = False) -> T:
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))  # type: ignore[attr-defined]

    def pin_memory(self: T) -> T:
        return self._map(lambda t: t.pin_memory())  # type: ignore[attr-defined]


@dataclass
class TextInputs(TensorContainer):
    """Text-only sequences (queries, QA text): ids (Q, T), positions (T,), mask (Q, T)."""

    ids: torch.Tensor
    positions: torch.Tensor
    mask: torch.Tensor


@dataclass
class CrossModalInputs(TensorContainer):
    """One sequence per subtitle: its frames followed by its text, packed left.

    Row s of the packed sequence is ``frames[s, :F_s]`` then ``text[s, :T_s]``: ``gather_index``
    (S, N) indexes the concatenation ``[frame slots (F) ; text slots (T)]`` of that row.
    """

    text_ids: torch.Tensor         # (S, T) long, padded with the pad id
    text_positions: torch.Tensor   # (T,) long, 0.. clipped at the table size
    frame_feats: torch.Tensor      # (S, F, Dv) float, zero padded
    frame_positions: torch.Tensor  # (F,) long, local frame index inside the subtitle
    gather_index: torch.Tensor     # (S, N) long
    attention_mask: torch.Tensor   # (S, N) bool
    frame_mfm_mask: torch.Tensor | None = None  # (S, F) bool, True = masked frame (MFM only)


@dataclass
class VideoInputs(TensorContainer):
    """Whole clips: the subtitle sequences plus clip-level features and the scatter map.

    ``owned_*`` are K flat index pairs: frame ``owned_frame[k]`` of video ``owned_video[k]`` is slot
    ``owned_slot[k]`` of subtitle row ``owned_row[k]`` (frames owned by no subtitle are absent).
    """

    cross_modal: CrossModalInputs
    clip_feats: torch.Tensor   # (B, L, Dv)
    clip_mask: torch.Tensor    # (B, L) bool
    owned_video: torch.Tensor  # (K,) long
    owned_frame: torch.Tensor  # (K,) long
    owned_row: torch.Tensor    # (K,) long
    owned_slot: torch.Tensor   # (K,) long
    clip_mfm_mask: torch.Tensor | None = None  # (B, L) bool, True = masked frame (MFM only)


@dataclass
class MlmBatch(TensorContainer):
    """Masked language modelling on the Cross-modal Transformer (one row per subtitle)."""

    inputs: CrossModalInputs
    target_mask: torch.Tensor  # (S, N) bool: packed positions holding a masked token
    labels: torch.Tensor       # (M,) long: original ids at those positions, row-major order


@dataclass
class MfmBatch(TensorContainer):
    """Masked frame modelling (MFM-NCE and MFFR); masked frames are zeroed in the inputs."""

    video: VideoInputs  # with clip_mfm_mask / frame_mfm_mask set
    targets: torch.Tensor  # (M, Dv) raw features of the masked frames, (B, L) row-major order


@dataclass
class MfmNceBatch(MfmBatch):
    """MFM with the noise-contrastive objective."""


@dataclass
class MffrBatch(MfmBatch):
    """MFM with feature regression (MFFR)."""


@dataclass
class FomBatch(TensorContainer):
    """Frame order modelling: ``order[b, i]`` = position that frame i is moved to."""

    video: VideoInputs
    order: torch.Tensor    # (B, L) long, identity on unselected frames and padding
    targets: torch.Tensor  # (B, L) long, original index of the frame now at each position, -1 = none


@dataclass
class RetrievalBatch(TensorContainer):
    """Video-subtitle matching (pre-training) and VCMR fine-tuning.

    Queries are grouped by video: queries ``j·k … j·k+k−1`` belong to video j (k = Q / B).
    """

    video: VideoInputs
    queries: TextInputs
    query_video_index: torch.Tensor  # (Q,) long
    span_targets: torch.Tensor       # (Q, 2) long inclusive [start, end] frame, -1 = unknown


@dataclass
class LvwmBatch(TensorContainer):
    """Local vision-word matching (SNP-S3): query word bags against the frames of a video-only pass.

    Queries are grouped by video like :class:`RetrievalBatch`.
    """

    video: VideoInputs                # the clips; their subtitle text is not read (video-only pass)
    queries: TextInputs               # (Q, T) ``[CLS]`` + tokens, encoded text-only
    query_video_index: torch.Tensor   # (Q,) long
    word_positions: torch.Tensor      # (Q, K) long: the K significant words' positions in ``queries``
    moment_mask: torch.Tensor         # (Q, L) bool: frames of each query's moment (its positive bag)


@dataclass
class VideoQaBatch(TensorContainer):
    """TVQA / How2QA: every video is replicated once per answer candidate (row = b·K + k)."""

    video: VideoInputs   # B·K replicas, QA text appended to every subtitle sequence
    qa_text: TextInputs  # (B·K, T): [SEP] question [SEP] answer_k
    answer_targets: torch.Tensor  # (B,) long, -1 = unknown
    span_targets: torch.Tensor    # (B, 2) long, -1 = unknown


@dataclass
class MtcBatch(TensorContainer):
    """LF-VILA's multimodal temporal contrast (MTC) over subtitle units (lfvila-snps3.md §1.3).

    A unit is a subtitle owning ≥ 1 frame and ≥ 1 token; units of a video are numbered in time order.
    ``keys`` / ``values`` are unit positions drawn per video; ``labels[b, k]`` is the index in
    ``values[b]`` of the value nearest to key k (−100 = two values equally near: ignored);
    ``shift_draw[b]`` ∈ [0, 1) picks the unit of each shifted video used as an extra negative.
    """

    video: VideoInputs         # the clips; their text is never read (video-only pass)
    frame_unit: torch.Tensor   # (B, L) long, unit of each frame, −1 = none
    unit_counts: torch.Tensor  # (B,) long
    unit_text: TextInputs      # (ΣU, T) [CLS] + tokens of every unit, video-major
    keys: torch.Tensor         # (B, K) long
    values: torch.Tensor       # (B, V) long
    labels: torch.Tensor       # (B, K) long
    shift_draw: torch.Tensor   # (B,) float
