"""HTWA windows of the Temporal Transformer: which frame attends to which, equality with a dense masked
attention, linear-cost chunking, and the option changing outputs only when on."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from data.loading.collate import collate_videos
from model.config import TemporalAttentionConfig
from model.hero import HeroModel
from model.layers import SelfAttention
from model.temporal import TemporalTransformer
from model.temporal_windows import window_allowed, window_ids, windowed_self_attention
from tests.helpers import random_items, tiny_config


def test_fixed_windows_hand_computed():
    # 5 frames, windows of 2 at multiples of 2: {0,1} {2,3} {4}; frame 3 is padding.
    ids = window_ids(5, 2)
    assert ids.tolist() == [0, 0, 1, 1, 2]
    allowed = window_allowed(ids, torch.tensor([[True, True, True, False, True]]))[0].int().tolist()
    assert allowed == [[1, 1, 0, 0, 0],
                       [1, 1, 0, 0, 0],
                       [0, 0, 1, 0, 0],
                       [0, 0, 1, 0, 0],
                       [0, 0, 0, 0, 1]]


def test_subtitle_aligned_windows_hand_computed():
    # subtitle A owns frames 1-3 (anchor 1), frame 0 and 4 unowned, subtitle B owns 5-6 (anchor 5)
    anchor = torch.tensor([[0, 1, 1, 1, 4, 5, 5]])
    ids = window_ids(7, 2, anchor)
    # frames 2, 3 follow their subtitle into window 0 instead of window 1
    assert ids.tolist() == [[0, 0, 0, 0, 2, 2, 2]]


def dense_reference(attention: SelfAttention, hidden, allowed):
    """SelfAttention with an explicit (B, L, L) mask, written out with matmuls."""
    batch, length, dim = hidden.shape
    heads = attention.num_heads
    q, k, v = attention.qkv(hidden).view(batch, length, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
    scores = q @ k.transpose(-1, -2) / math.sqrt(dim // heads) + (~allowed)[:, None].float() * -10000.0
    context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, length, dim)
    return attention.norm(attention.out(context) + hidden)


@pytest.mark.parametrize("window", [1, 3, 4, 16])
def test_fixed_windows_equal_dense_masked_attention(window):
    torch.manual_seed(0)
    attention = SelfAttention(tiny_config().c_config).eval()
    hidden = torch.randn(2, 11, 32)
    mask = torch.ones(2, 11, dtype=torch.bool)
    mask[1, 8:] = False
    got = windowed_self_attention(attention, hidden, mask, window)
    want = dense_reference(attention, hidden, window_allowed(window_ids(11, window), mask))
    assert torch.allclose(got[mask], want[mask], atol=1e-5)


def test_subtitle_windows_spanning_chunks_equal_dense():
    torch.manual_seed(1)
    attention = SelfAttention(tiny_config().c_config).eval()
    hidden = torch.randn(2, 12, 32)
    mask = torch.ones(2, 12, dtype=torch.bool)
    # a long subtitle (frames 2-9) makes its window reach two chunks past its own (window 3)
    anchor = torch.tensor([[0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 10, 11],
                           [0, 0, 0, 3, 4, 5, 5, 7, 8, 9, 9, 9]])
    got = windowed_self_attention(attention, hidden, mask, 3, anchor)
    want = dense_reference(attention, hidden, window_allowed(window_ids(12, 3, anchor), mask))
    assert torch.allclose(got, want, atol=1e-5)


def test_window_as_long_as_clip_is_global():
    torch.manual_seed(2)
    config = tiny_config(c_layers=2)
    plain = TemporalTransformer(config.c_config).eval()
    windowed = TemporalTransformer(config.c_config, TemporalAttentionConfig(windows=[64, None])).eval()
    windowed.load_state_dict(plain.state_dict())
    frames, mask = torch.randn(2, 9, 32), torch.ones(2, 9, dtype=torch.bool)
    assert torch.allclose(plain(frames, mask), windowed(frames, mask), atol=1e-5)
    narrow = TemporalTransformer(config.c_config, TemporalAttentionConfig(windows=[2, None])).eval()
    narrow.load_state_dict(plain.state_dict())
    assert not torch.allclose(plain(frames, mask), narrow(frames, mask), atol=1e-3)


@pytest.mark.parametrize("align", ["fixed", "subtitles"])
def test_option_changes_backbone_outputs_only_when_on(align):
    base = tiny_config(c_layers=2)
    items = random_items(seed=3, lengths=(14, 9, 12))
    video = collate_videos(items, pad_id=1)
    torch.manual_seed(5)
    off = HeroModel(base).eval()
    on = HeroModel(replace(base, temporal_attention=TemporalAttentionConfig(windows=[4, None], align=align))).eval()
    on.load_state_dict(off.state_dict())
    same_cfg = HeroModel(replace(base, temporal_attention=TemporalAttentionConfig(windows=[None, None]))).eval()
    same_cfg.load_state_dict(off.state_dict())
    mask = video.clip_mask
    assert torch.equal(off(video)[mask], same_cfg(video)[mask])
    assert not torch.allclose(off(video)[mask], on(video)[mask], atol=1e-3)


def test_subtitle_anchor_from_ownership():
    items = random_items(seed=3, lengths=(10,))
    video = collate_videos(items, pad_id=1)
    windows = TemporalAttentionConfig(windows=[4], align="subtitles")
    config = replace(tiny_config(c_layers=1), temporal_attention=windows)
    anchor = HeroModel(config).segment_anchor(video)[0]
    owner = items[0].frame_owner
    for frame in range(10):
        sub = int(owner[frame])
        expected = frame if sub < 0 else int((owner == sub).nonzero()[0])
        assert int(anchor[frame]) == expected


def test_bad_window_configs_are_refused():
    with pytest.raises(ValueError, match="2 entries for 1"):
        replace(tiny_config(c_layers=1), temporal_attention=TemporalAttentionConfig(windows=[4, None]))
    with pytest.raises(ValueError, match=">= 1"):
        TemporalAttentionConfig(windows=[0])


def test_too_many_frames_name_the_position_table():
    temporal = TemporalTransformer(tiny_config().c_config)
    with pytest.raises(ValueError, match="frame position table .64 rows"):
        temporal(torch.randn(1, 65, 32), torch.ones(1, 65, dtype=torch.bool))


def test_windows_round_trip_through_the_model_json(tmp_path):
    from config.loader import from_dict, load_config, to_dict
    from model.config import HeroModelConfig
    config = load_config(HeroModelConfig, "config/hero_demo_model_htwa_subtitles.json")
    assert config.temporal_attention == TemporalAttentionConfig(windows=[8, None], align="subtitles")
    assert from_dict(HeroModelConfig, to_dict(config)) == config
    assert load_config(HeroModelConfig, "config/hero_demo_model.json").temporal_attention.windowed is False
