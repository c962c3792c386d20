"""Vectorised collation of videos and texts into the model's typed inputs (``model/inputs.py``).

The per-video unit is a :class:`VideoItem`: the clip's frame features, which subtitle owns each
frame (``frame_owner``; −1 = none) and the final token ids of each subtitle sequence. Everything
below works on flat index tensors (no per-subtitle or per-token Python loops): the frames of every
subtitle are found by one stable sort of the owner ids, text is padded by one scatter, and the
packed layout "frames then tokens" is one ``gather_index`` (hero-reference.md §1.4, §3.7).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import torch

from model.inputs import CrossModalInputs, TextInputs, VideoInputs

# Text positions are clipped here by the reference ("0, 1, 2, … clipped at 511").
MAX_TEXT_POSITION = 511


@dataclass
class VideoItem:
    """One clip, ready for collation.

    Attributes:
        frame_feats: (n, Dv) float raw features.
        frame_owner: (n,) long, index of the subtitle sequence owning each frame, −1 = none.
        subtitle_ids: token ids of each subtitle sequence as the Cross-modal Transformer reads them
            (e.g. ``[SEP] + tokens``); ``len(subtitle_ids)`` subtitle rows.
    """

    frame_feats: torch.Tensor
    frame_owner: torch.Tensor
    subtitle_ids: Sequence[Sequence[int]]


def _lengths(rows: Sequence[Sequence[int]]) -> torch.Tensor:
    return torch.tensor([len(row) for row in rows], dtype=torch.long)


def pad_rows(rows: Sequence[Sequence[int]], pad_value: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ragged int rows → (R, T) padded tensor and (R,) lengths, with one scatter."""
    lengths = _lengths(rows)
    width = int(lengths.max()) if len(rows) else 0
    flat = torch.tensor(list(chain.from_iterable(rows)), dtype=torch.long)
    row_of_token = torch.repeat_interleave(torch.arange(len(rows)), lengths)
    starts = torch.cumsum(lengths, 0) - lengths
    column = torch.arange(len(flat)) - starts[row_of_token]
    padded = torch.full((len(rows), max(width, 1)), pad_value, dtype=torch.long)
    padded[row_of_token, column] = flat
    return padded, lengths


def text_positions(length: int, max_position: int = MAX_TEXT_POSITION) -> torch.Tensor:
    """0, 1, … length−1, clipped at ``max_position`` (reference behaviour)."""
    return torch.arange(length).clamp(max=max_position)


def collate_text(rows: Sequence[Sequence[int]], pad_id: int,
                 max_position: int = MAX_TEXT_POSITION) -> TextInputs:
    """Text-only sequences (queries, QA text) → :class:`TextInputs`."""
    ids, lengths = pad_rows(rows, pad_id)
    mask = torch.arange(ids.shape[1])[None] < lengths[:, None]
    return TextInputs(ids=ids, positions=text_positions(ids.shape[1], max_position), mask=mask)


def pad_frames(feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Clip features → (B, L, Dv) zero padded and (B, L) bool mask."""
    lengths = torch.tensor([len(f) for f in feats], dtype=torch.long)
    padded = torch.nn.utils.rnn.pad_sequence(list(feats), batch_first=True)
    mask = torch.arange(padded.shape[1])[None] < lengths[:, None]
    return padded, mask


def append_rows(first: torch.Tensor, first_lengths: torch.Tensor, second: torch.Tensor,
                second_lengths: torch.Tensor, pad_value: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-wise concatenation of two padded id tensors: row s = first[s, :a_s] + second[s, :b_s]."""
    lengths = first_lengths + second_lengths
    out = torch.full((len(lengths), max(int(lengths.max()) if len(lengths) else 0, 1)), pad_value,
                     dtype=torch.long)
    columns = torch.arange(first.shape[1])[None]
    keep = columns < first_lengths[:, None]
    out[:, : first.shape[1]][keep] = first[keep]
    rows, cols = torch.nonzero(torch.arange(second.shape[1])[None] < second_lengths[:, None], as_tuple=True)
    out[rows, first_lengths[rows] + cols] = second[rows, cols]
    return out, lengths


def collate_videos(items: Sequence[VideoItem], pad_id: int,
                   clip_mfm_mask: torch.Tensor | None = None,
                   max_text_position: int = MAX_TEXT_POSITION,
                   subtitle_suffix: Sequence[Sequence[int]] | None = None) -> VideoInputs:
    """Collate clips into :class:`VideoInputs`.

    Args:
        items: the clips.
        pad_id: text padding id.
        clip_mfm_mask: optional (B, L) bool, True = frame masked for MFM. Masked frames are zeroed
            in both the clip features and the per-subtitle features, and the mask is projected onto
            each subtitle's frames.
        max_text_position: text position ids are clipped here.
        subtitle_suffix: optional ids appended to every subtitle row of each clip (one list per
            clip; VideoQA appends ``[SEP] q [SEP] a`` this way).
    """
    clip_feats, clip_mask = pad_frames([item.frame_feats for item in items])
    num_videos, num_frames = clip_mask.shape
    subs_per_video = torch.tensor([len(item.subtitle_ids) for item in items], dtype=torch.long)
    row_offset = torch.cumsum(subs_per_video, 0) - subs_per_video  # first subtitle row per video
    num_rows = int(subs_per_video.sum())

    # Frame → (subtitle row, slot inside that row's frame list): one stable sort over owners.
    owners = torch.nn.utils.rnn.pad_sequence(
        [item.frame_owner.long() for item in items], batch_first=True, padding_value=-1)  # (B, L)
    owned_video, owned_frame = torch.nonzero(owners >= 0, as_tuple=True)  # row-major: frame order
    local_owner = owners[owned_video, owned_frame]
    if len(local_owner) and bool((local_owner >= subs_per_video[owned_video]).any()):
        bad = int(owned_video[local_owner >= subs_per_video[owned_video]][0])
        raise ValueError(f"video {bad} of the batch: frame_owner names a subtitle it does not have "
                         f"({len(items[bad].subtitle_ids)} subtitle sequences)")
    owned_row = row_offset[owned_video] + local_owner
    order = torch.sort(owned_row, stable=True).indices
    frames_per_row = torch.bincount(owned_row, minlength=num_rows)  # (S,)
    row_start = torch.cumsum(frames_per_row, 0) - frames_per_row
    owned_slot = torch.empty_like(owned_row)
    owned_slot[order] = torch.arange(len(order)) - row_start[owned_row[order]]
    max_frames = max(int(frames_per_row.max()) if num_rows else 0, 1)

    frame_mfm_mask = None
    if clip_mfm_mask is not None:
        clip_mfm_mask = clip_mfm_mask & clip_mask
        clip_feats = clip_feats.masked_fill(clip_mfm_mask[..., None], 0.0)
        frame_mfm_mask = torch.zeros(num_rows, max_frames, dtype=torch.bool)
        frame_mfm_mask[owned_row, owned_slot] = clip_mfm_mask[owned_video, owned_frame]
    frame_feats = clip_feats.new_zeros(num_rows, max_frames, clip_feats.shape[-1])
    frame_feats[owned_row, owned_slot] = clip_feats[owned_video, owned_frame]

    text_rows = list(chain.from_iterable(item.subtitle_ids for item in items))
    text_ids, text_lengths = pad_rows(text_rows, pad_id)
    if subtitle_suffix is not None:
        suffix, suffix_lengths = pad_rows(subtitle_suffix, pad_id)  # (B, T2)
        video_of_row = torch.repeat_interleave(torch.arange(num_videos), subs_per_video)
        text_ids, text_lengths = append_rows(text_ids, text_lengths, suffix[video_of_row],
                                             suffix_lengths[video_of_row], pad_id)
    cross_modal = pack_cross_modal(text_ids, text_lengths, frame_feats, frames_per_row,
                                   frame_mfm_mask, max_text_position)
    return VideoInputs(cross_modal=cross_modal, clip_feats=clip_feats, clip_mask=clip_mask,
                       owned_video=owned_video, owned_frame=owned_frame, owned_row=owned_row,
                       owned_slot=owned_slot, clip_mfm_mask=clip_mfm_mask)


def pack_cross_modal(text_ids: torch.Tensor, text_lengths: torch.Tensor, frame_feats: torch.Tensor,
                     frame_counts: torch.Tensor, frame_mfm_mask: torch.Tensor | None = None,
                     max_text_position: int = MAX_TEXT_POSITION) -> CrossModalInputs:
    """Build the packed "frames then tokens" layout of each subtitle sequence.

    Args:
        text_ids: (S, T) padded ids; text_lengths: (S,).
        frame_feats: (S, F, Dv) zero padded; frame_counts: (S,) real frames per row.
    """
    max_frames, max_text = frame_feats.shape[1], text_ids.shape[1]
    packed_lengths = frame_counts + text_lengths  # (S,)
    width = max(int(packed_lengths.max()) if len(packed_lengths) else 0, 1)
    slot = torch.arange(width)[None]  # (1, N)
    counts = frame_counts[:, None]
    # Slot j < F_s reads frame j; then text token j − F_s (stored after the F frame slots);
    # padding slots read anything (they are masked out as keys and never read back).
    gather_index = torch.where(slot < counts, slot,
                               torch.where(slot < counts + text_lengths[:, None],
                                           max_frames + slot - counts, slot))
    gather_index = gather_index.clamp(max=max_frames + max_text - 1)
    return CrossModalInputs(
        text_ids=text_ids, text_positions=text_positions(max_text, max_text_position),
        frame_feats=frame_feats, frame_positions=torch.arange(max_frames),
        gather_index=gather_index, attention_mask=slot < packed_lengths[:, None],
        frame_mfm_mask=frame_mfm_mask)


def packed_text_mask(text_mask: torch.Tensor, frame_counts: torch.Tensor, width: int) -> torch.Tensor:
    """Move a (S, T) mask over text tokens to packed positions (S, N): token t sits at F_s + t."""
    rows, columns = torch.nonzero(text_mask, as_tuple=True)
    packed = torch.zeros(text_mask.shape[0], width, dtype=torch.bool)
    packed[rows, columns + frame_counts[rows]] = True
    return packed
