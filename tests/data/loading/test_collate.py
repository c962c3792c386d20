"""Collation: the vectorised packing must equal the reference's per-subtitle construction."""
import pytest
import torch

from data.loading.collate import VideoItem, collate_text, collate_videos, pad_rows
from data.loading.task_collate import MlmExample, collate_fom, collate_mfm, collate_mlm
from model.inputs import MffrBatch
from tests.helpers import PAD, SEP, random_items


def naive_rows(items):
    """Reference construction, one subtitle at a time: (frame indices, text ids, video idx)."""
    rows = []
    for b, item in enumerate(items):
        for s, ids in enumerate(item.subtitle_ids):
            frames = [f for f in range(len(item.frame_owner)) if int(item.frame_owner[f]) == s]
            rows.append((frames, list(ids), b))
    return rows


def test_packed_layout_matches_per_subtitle_construction():
    items = random_items(seed=3, lengths=(7, 5, 11))
    video = collate_videos(items, PAD)
    cm = video.cross_modal
    num_frame_slots = cm.frame_feats.shape[1]
    rows = naive_rows(items)
    assert cm.text_ids.shape[0] == len(rows)
    for s, (frames, ids, b) in enumerate(rows):
        n_frames, n_text = len(frames), len(ids)
        # frames first, each with the clip's feature, at local positions 0..F_s-1
        for j, f in enumerate(frames):
            assert int(cm.gather_index[s, j]) == j
            assert torch.equal(cm.frame_feats[s, j], items[b].frame_feats[f])
        # then the text tokens
        for t in range(n_text):
            assert int(cm.gather_index[s, n_frames + t]) == num_frame_slots + t
            assert int(cm.text_ids[s, t]) == ids[t]
        assert cm.attention_mask[s].sum() == n_frames + n_text
        assert cm.attention_mask[s, : n_frames + n_text].all()
        # the scatter map sends slot j of row s back to (video b, frame f)
        for j, f in enumerate(frames):
            hit = (video.owned_row == s) & (video.owned_slot == j)
            assert hit.sum() == 1
            assert int(video.owned_video[hit]) == b and int(video.owned_frame[hit]) == f
    owned = sum(int((item.frame_owner >= 0).sum()) for item in items)
    assert len(video.owned_row) == owned


def test_clip_level_padding_and_mask():
    items = random_items(lengths=(3, 6))
    video = collate_videos(items, PAD)
    assert video.clip_feats.shape[:2] == (2, 6)
    assert video.clip_mask.tolist() == [[True] * 3 + [False] * 3, [True] * 6]
    assert torch.equal(video.clip_feats[0, 3:], torch.zeros(3, 12))


def test_text_positions_clipped_at_511():
    text = collate_text([[5] * 600, [6] * 3], PAD)
    assert text.positions[510] == 510 and text.positions[511] == 511 and text.positions[599] == 511
    assert text.mask.sum(1).tolist() == [600, 3]
    assert text.ids[1, 3:].eq(PAD).all()


def test_pad_rows_vectorised_equals_python():
    rows = [[1, 2, 3], [4], [5, 6]]
    padded, lengths = pad_rows(rows, -1)
    assert padded.tolist() == [[1, 2, 3], [4, -1, -1], [5, 6, -1]] and lengths.tolist() == [3, 1, 2]


def test_mfm_zeroes_masked_frames_everywhere_and_keeps_targets():
    items = random_items(seed=1, lengths=(6, 4))
    masks = [torch.tensor([0, 1, 0, 0, 1, 0]).bool(), torch.tensor([1, 0, 0, 0]).bool()]
    batch = collate_mfm(items, masks, PAD, MffrBatch)
    assert isinstance(batch, MffrBatch)
    expected = torch.stack([items[0].frame_feats[1], items[0].frame_feats[4], items[1].frame_feats[0]])
    assert torch.equal(batch.targets, expected)
    assert batch.video.clip_feats[0, 1].abs().sum() == 0 and batch.video.clip_feats[1, 0].abs().sum() == 0
    cm = batch.video.cross_modal
    # every masked clip frame that a subtitle owns is masked (and zero) in that subtitle's row
    masked_rows = cm.frame_mfm_mask[batch.video.owned_row, batch.video.owned_slot]
    clip_masked = batch.video.clip_mfm_mask[batch.video.owned_video, batch.video.owned_frame]
    assert torch.equal(masked_rows, clip_masked)
    assert cm.frame_feats[cm.frame_mfm_mask].abs().sum() == 0


def test_mlm_targets_point_at_masked_text_after_the_frames():
    examples = [MlmExample(torch.randn(2, 12), [0, 4, 7, 4], [-1, 9, -1, 11]),
                MlmExample(torch.zeros(0, 12), [0, 4], [-1, 13])]
    batch = collate_mlm(examples, PAD)
    assert batch.labels.tolist() == [9, 11, 13]
    rows, cols = torch.nonzero(batch.target_mask, as_tuple=True)
    assert rows.tolist() == [0, 0, 1] and cols.tolist() == [2 + 1, 2 + 3, 0 + 1]


def test_fom_pads_order_with_identity_and_targets_with_minus_one():
    items = random_items(lengths=(3, 5))
    batch = collate_fom(items, [torch.tensor([0, 2, 1]), torch.tensor([1, 0, 2, 3, 4])],
                        [torch.tensor([-1, 2, 1]), torch.tensor([1, 0, -1, -1, -1])], PAD)
    assert batch.order.tolist() == [[0, 2, 1, 3, 4], [1, 0, 2, 3, 4]]
    assert batch.targets.tolist() == [[-1, 2, 1, -1, -1], [1, 0, -1, -1, -1]]


def test_frame_owner_out_of_range_is_a_clear_error():
    bad = VideoItem(torch.randn(3, 12), torch.tensor([0, 5, -1]), [[SEP, 7]])
    with pytest.raises(ValueError, match="frame_owner names a subtitle"):
        collate_videos([bad], PAD)


def test_subtitle_suffix_is_appended_to_every_row_of_its_clip():
    items = random_items(seed=5, lengths=(4, 6))
    plain = collate_videos(items, PAD).cross_modal
    suffixed = collate_videos(items, PAD, subtitle_suffix=[[SEP, 90, 91], [SEP, 92]]).cross_modal
    rows = [row for item in items for row in item.subtitle_ids]
    first_clip_rows = len(items[0].subtitle_ids)
    for s, row in enumerate(rows):
        suffix = [SEP, 90, 91] if s < first_clip_rows else [SEP, 92]
        assert suffixed.text_ids[s, : len(row) + len(suffix)].tolist() == list(row) + suffix
        assert suffixed.text_ids[s, len(row) + len(suffix):].eq(PAD).all()
        assert suffixed.attention_mask[s].sum() == plain.attention_mask[s].sum() + len(suffix)
