"""LVWM (SNP-S3): word-bag scores and the MIL-NCE bag loss by hand, the video-only pass, the forward."""
from __future__ import annotations

import math

import numpy as np
import torch

from data.loading.collate import VideoItem, collate_videos
from data.loading.lvwm_dataset import LvwmExample, collate_lvwm
from model.heads.lvwm import lvwm_bag_losses, word_frame_scores
from model.hero import HeroModel
from model.outputs import LvwmOutput
from model.pretrain import HeroForPretraining, PretrainHeadConfig
from model.video_only import encode_video_only, strip_subtitle_text
from tests.helpers import CLS, PAD, random_items, tiny_config
from utils.trainer import set_dropout


def lse(*values: float) -> float:
    return math.log(sum(math.exp(v) for v in values))


def test_word_frame_scores_by_hand():
    words = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # (1, K=2, D=2), not normalised
    frames = torch.tensor([[3.0, 0.0], [0.0, 1.0]])   # normalised to e1, e2
    assert torch.allclose(word_frame_scores(words, frames), torch.tensor([[lse(1, 0), lse(0, 2)]]))
    assert torch.allclose(word_frame_scores(words, frames, temperature=0.5),
                          torch.tensor([[lse(2, 0), lse(0, 4)]]))


def test_bag_loss_by_hand():
    # q0 ∈ video 0 with bag {f0}; q1 ∈ video 1 with bag {f2, f3}; f0, f1 ∈ video 0, f2, f3 ∈ video 1
    scores = torch.tensor([[1.0, 0.0, 0.5, -1.0], [0.0, 2.0, 1.0, 0.0]])
    positive = torch.tensor([[True, False, False, False], [False, False, True, True]])
    losses = lvwm_bag_losses(scores, positive, torch.tensor([0, 1]), torch.tensor([0, 0, 1, 1]),
                             torch.ones(4, dtype=torch.bool))
    # q0: bag {1}; row negatives f2, f3 {0.5, −1}; column negative (q1, f0) {0}; f1 (own video) left out
    q0 = lse(1, 0.5, -1, 0) - 1
    # q1: bag {1, 0}; row negatives f0, f1 {0, 2}; column negatives (q0, f2), (q0, f3) {0.5, −1}
    q1 = lse(1, 0, 0, 2, 0.5, -1) - lse(1, 0)
    assert torch.allclose(losses, torch.tensor([q0, q1]))


def test_bag_loss_ignores_padding_and_empty_bags():
    scores = torch.tensor([[1.0, 9.0, 0.0], [3.0, 0.0, 0.0]])
    positive = torch.tensor([[True, False, False], [False, False, False]])
    valid = torch.tensor([True, False, True])  # f1 is padding of video 1
    losses = lvwm_bag_losses(scores, positive, torch.tensor([0, 1]), torch.tensor([0, 1, 1]), valid)
    # q0: bag {1}; row negative f2 only (f1 is padding); column: (q1, f0) {3}
    assert torch.allclose(losses, torch.tensor([lse(1, 0, 3) - 1, 0.0]))
    scores.requires_grad_(True)
    lvwm_bag_losses(scores, positive, torch.tensor([0, 1]), torch.tensor([0, 1, 1]), valid).sum().backward()
    assert torch.isfinite(scores.grad).all()


def test_video_only_pass_reads_no_subtitle_text():
    torch.manual_seed(0)
    hero = HeroModel(tiny_config()).eval()
    items = random_items(seed=4, lengths=(7, 9))
    video = collate_videos(items, PAD)
    other_text = collate_videos([VideoItem(i.frame_feats, i.frame_owner, [[t + 1 for t in row] for row in
                                                                          i.subtitle_ids]) for i in items], PAD)
    no_text = collate_videos([VideoItem(i.frame_feats, i.frame_owner, [[] for _ in i.subtitle_ids])
                              for i in items], PAD)
    with torch.no_grad():
        video_only = encode_video_only(hero, video)
        assert torch.equal(video_only, encode_video_only(hero, other_text))
        assert not torch.allclose(video_only, hero(video), atol=1e-3)  # the full pass reads the text
        # the same as the full pass over rows that hold only their frames
        valid = video.clip_mask
        assert torch.allclose(video_only[valid], hero(no_text)[valid], atol=1e-5)
    stripped = strip_subtitle_text(video)
    frames_per_row = torch.bincount(video.owned_row)
    assert len(stripped.cross_modal.attention_mask) == int((frames_per_row > 0).sum())  # frameless rows gone
    assert stripped.cross_modal.attention_mask.sum() == len(video.owned_row)


def lvwm_batch(clips=(0, 1, 2)):
    items = random_items(seed=11, lengths=(6, 8, 5, 7))
    examples = []
    for c in clips:
        owner = items[c].frame_owner
        moments = [torch.nonzero(owner == 0).flatten().numpy(), torch.nonzero(owner == owner.max()).flatten().numpy()]
        examples.append(LvwmExample(items[c], [[CLS, 5 + c, 6 + c, 7, 8], [CLS, 9 + c, 10]],
                                    np.array([[1, 2, 3], [1, 2, 2]]), moments))
    return collate_lvwm(examples, PAD)


def test_lvwm_forward_matches_its_parts_and_trains_both_passes():
    torch.manual_seed(0)
    model = HeroForPretraining(tiny_config(), heads=PretrainHeadConfig(lvwm_temperature=0.5))
    set_dropout(model, 0.0)
    batch = lvwm_batch()
    output = model(batch)
    assert isinstance(output, LvwmOutput) and output.video_scores.shape == (6, 3)
    frames = encode_video_only(model.hero, batch.video)
    states = model.hero.encode_text(batch.queries)
    words = states[torch.arange(6)[:, None], batch.word_positions]
    scores = word_frame_scores(words, frames.flatten(0, 1), 0.5)
    positive = (batch.query_video_index[:, None, None] == torch.arange(3)[None, :, None]) \
        & batch.moment_mask[:, None] & batch.video.clip_mask[None]
    expected = lvwm_bag_losses(scores, positive.flatten(1), batch.query_video_index,
                               torch.arange(3).repeat_interleave(frames.shape[1]), batch.video.clip_mask.flatten())
    assert torch.allclose(output.query_losses, expected) and torch.isclose(output.loss, expected.mean())
    output.loss.backward()
    for name in ("hero.cross_modal.text_embeddings.word.weight", "hero.frame_transform.linear.weight",
                 "hero.temporal.encoder.layers.0.attention.qkv.weight"):
        assert model.get_parameter(name).grad.abs().sum() > 0, name
    assert model.mlm_head.dense.weight.grad is None  # LVWM has no head of its own


def test_lvwm_temperature_changes_the_loss():
    torch.manual_seed(0)
    model = HeroForPretraining(tiny_config()).eval()
    batch = lvwm_batch()
    with torch.no_grad():
        first = model(batch).loss
        model.head_config.lvwm_temperature = 0.1
        assert not torch.isclose(model(batch).loss, first)
