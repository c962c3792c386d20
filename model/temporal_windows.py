"""Windowed temporal attention for the Temporal Transformer (LF-VILA's HTWA, lfvila-snps3.md §1.2).

A windowed layer lets each frame attend only to the frames of its own window. Windows are
non-overlapping runs of ``window`` frames starting at multiples of ``window`` (LF-VILA's temporal
windows never shift), or, aligned to subtitles, the frames whose *segment anchor* (first frame of their
subtitle, the frame itself when no subtitle owns it) falls in ``[k·window, (k+1)·window)``, so a
subtitle's frames never straddle two windows.

Cost is linear in the number of frames: the sequence is cut into chunks of ``window`` frames and each
chunk's queries see only the keys of chunks ``c−h … c+h``, where ``h`` is how many chunks a window
spans beyond its first one (0 for fixed windows: a plain reshape into windows; ≥ 1 only when
a subtitle-aligned window runs past its chunk). Attention itself is ``F.scaled_dot_product_attention``
with the library's additive −10000 mask.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .layers import SelfAttention

MASKED = -10000.0  # the additive key mask of every HERO attention (model/layers.py)


def window_ids(num_frames: int, window: int, segment_anchor: torch.Tensor | None = None,
               device: torch.device | None = None) -> torch.Tensor:
    """Window index of every frame, (L,) for fixed windows or (B, L) with ``segment_anchor`` (B, L)."""
    if window < 1:
        raise ValueError(f"temporal window must be >= 1 frame, got {window}")
    if segment_anchor is None:
        return torch.arange(num_frames, device=device) // window
    return segment_anchor // window


def window_allowed(ids: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    """Dense (B, L, L) bool: query i may attend key j (same window and j a real frame). For tests and
    small inputs only; the layer itself never builds an L×L mask."""
    if ids.dim() == 1:
        ids = ids[None].expand(frame_mask.shape[0], -1)
    return (ids[:, :, None] == ids[:, None, :]) & frame_mask[:, None, :].bool()


def _chunk_span(ids: torch.Tensor, window: int) -> int:
    """How many chunks beyond its own a window reaches, over the batch (0 for fixed windows)."""
    num_frames = ids.shape[-1]
    chunk = torch.arange(num_frames, device=ids.device) // window
    chunk = chunk.expand_as(ids)
    flat_ids = ids.reshape(-1, num_frames)
    flat_chunk = chunk.reshape(-1, num_frames)
    # A window's frames are contiguous (anchors never decrease), so compare each frame with the first
    # and last frame of its window via the window's chunk range.
    first = torch.full_like(flat_ids, num_frames).scatter_reduce(1, flat_ids, flat_chunk, "amin", include_self=True)
    last = torch.full_like(flat_ids, -1).scatter_reduce(1, flat_ids, flat_chunk, "amax", include_self=True)
    own_first = first.gather(1, flat_ids)
    own_last = last.gather(1, flat_ids)
    reach = torch.maximum(flat_chunk - own_first, own_last - flat_chunk)
    return int(reach.max()) if reach.numel() else 0


def windowed_self_attention(attention: SelfAttention, hidden: torch.Tensor, frame_mask: torch.Tensor,
                            window: int, segment_anchor: torch.Tensor | None = None) -> torch.Tensor:
    """``attention`` (its Q/K/V, output projection, dropout and LayerNorm) restricted to windows.

    Args:
        attention: the layer's :class:`SelfAttention` (parameters reused unchanged).
        hidden: (B, L, D) frames; frame_mask: (B, L), True = real frame.
        window: frames per window.
        segment_anchor: optional (B, L) long, first frame of each frame's subtitle (subtitle-aligned
            windows); None = windows at multiples of ``window``.

    Returns:
        (B, L, D), as ``attention(hidden, frame_mask)`` would with the window restriction.
    """
    batch, length, dim = hidden.shape
    heads = attention.num_heads
    ids = window_ids(length, window, segment_anchor, hidden.device)
    ids = ids[None].expand(batch, -1) if ids.dim() == 1 else ids
    reach = 0 if segment_anchor is None else _chunk_span(ids, window)
    chunks = -(-length // window)
    padded_len = chunks * window
    pad = padded_len - length
    qkv = attention.qkv(hidden)
    if pad:
        qkv = F.pad(qkv, (0, 0, 0, pad))
        frame_mask = F.pad(frame_mask.bool(), (0, pad))
        ids = F.pad(ids, (0, pad), value=-1)  # padding slots belong to no window
    qkv = qkv.view(batch, padded_len, 3, heads, dim // heads)
    query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, Lp, hd)
    query = query.reshape(batch, heads, chunks, window, -1)  # (B, H, C, w, hd)
    span = (2 * reach + 1) * window
    if reach:
        # Keys of chunks c−h … c+h for every chunk c: pad h chunks each side, then unfold.
        def neighbourhood(x: torch.Tensor, fill) -> torch.Tensor:
            x = F.pad(x, (reach * window, reach * window), value=fill)
            return x.unfold(-1, span, window)  # (…, C, span)
        key = neighbourhood(key.transpose(-1, -2), 0.0).permute(0, 1, 3, 4, 2)  # (B, H, C, span, hd)
        value = neighbourhood(value.transpose(-1, -2), 0.0).permute(0, 1, 3, 4, 2)
        key_ids = neighbourhood(ids, -2)  # (B, C, span); −2 = outside the clip
        key_real = neighbourhood(frame_mask, False)
    else:
        key = key.reshape(batch, heads, chunks, window, -1)
        value = value.reshape(batch, heads, chunks, window, -1)
        key_ids = ids.reshape(batch, chunks, window)
        key_real = frame_mask.reshape(batch, chunks, window)
    query_ids = ids.reshape(batch, chunks, window)
    allowed = (query_ids[..., :, None] == key_ids[..., None, :]) & key_real[..., None, :]  # (B, C, w, span)
    additive = (~allowed).to(query.dtype)[:, None] * MASKED  # (B, 1, C, w, span)
    context = F.scaled_dot_product_attention(
        query, key, value, attn_mask=additive,
        dropout_p=attention.attention_dropout if attention.training else 0.0)  # (B, H, C, w, hd)
    context = context.reshape(batch, heads, padded_len, -1).transpose(1, 2).reshape(batch, padded_len, dim)
    context = context[:, :length]
    return attention.norm(attention.dropout(attention.out(context)) + hidden)
