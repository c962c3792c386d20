"""MTC (LF-VILA's multimodal temporal contrast): labels, ties, shifted negatives, the loss on hand-made
features, the video-only pass and the task model's output."""
from __future__ import annotations

import math

import numpy as np
import torch

from data.loading.collate import collate_videos
from data.loading.mtc_dataset import draw_units, unit_subtitles
from model.heads.mtc import IGNORE, MtcConfig, contrast, mtc_losses, nearest_value_labels, shifted_units, unit_means
from model.pretrain import HeroForPretraining
from model.video_only import encode_video_only, strip_subtitle_text
from tests.helpers import PAD, SEP, random_items, tiny_config
from tests.utils.grad_batches import mtc_batch


def test_nearest_value_labels_and_ties_hand_computed():
    keys = torch.tensor([[0, 3], [2, 1], [1, 4]])
    values = torch.tensor([[1, 3], [0, 4], [0, 3]])
    # video 0: key 0 → value 1 (|0-1|=1 < 3), key 3 → value 3 (0)
    # video 1: key 2 is 2 from both 0 and 4 → tie, ignored; key 1 → value 0
    # video 2: key 1 → 0 (1 < 2); key 4 → 3 (1 < 4)
    assert nearest_value_labels(keys, values).tolist() == [[0, 1], [IGNORE, 0], [0, 1]]


def test_shifted_negatives_never_the_same_video():
    units = torch.arange(4 * 3, dtype=torch.float)[:, None].view(4, 3, 1)  # video b, unit u → 3b + u
    counts = torch.tensor([3, 2, 1, 3])
    draw = torch.tensor([0.0, 0.5, 0.99, 0.7])
    got = shifted_units(units, counts, draw, shifts=3).squeeze(-1)
    # video 0 takes from videos 3, 2, 1: units ⌊0·n⌋ = 0 → 9, 6, 3
    # video 1 from 0, 3, 2 with draw .5: ⌊1.5⌋=1 → 1; ⌊1.5⌋=1 → 10; ⌊.5⌋=0 → 6
    # video 2 from 1, 0, 3 with .99: ⌊1.98⌋=1 → 4; ⌊2.97⌋=2 → 2; 2 → 11
    # video 3 from 2, 1, 0 with .7: 0 → 6; ⌊1.4⌋=1 → 4; ⌊2.1⌋=2 → 2
    assert got.tolist() == [[9, 6, 3], [1, 10, 6], [4, 2, 11], [6, 4, 2]]
    # two videos: only one shift, never wrapping round to the video itself
    assert shifted_units(units[:2], counts[:2], draw[:2], shifts=3).shape == (2, 1, 1)
    assert shifted_units(units[:1], counts[:1], draw[:1], shifts=3).shape == (1, 0, 1)


def test_contrast_loss_hand_computed():
    keys = torch.tensor([[[1.0, 0.0]]])            # one key
    candidates = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]])
    loss, logits, hits = contrast(keys, candidates, torch.tensor([[0]]), temperature=0.5)
    assert logits.flatten().tolist() == [2.0, 0.0, -2.0]
    expected = -math.log(math.exp(2) / (math.exp(2) + 1 + math.exp(-2)))
    assert abs(loss.item() - expected) < 1e-6 and hits.tolist() == [True]
    loss, _, hits = contrast(keys, candidates, torch.tensor([[IGNORE]]), temperature=0.5)
    assert loss.item() == 0.0 and hits.numel() == 0 and loss.requires_grad is False


def test_perfectly_aligned_features_are_solved():
    torch.manual_seed(0)
    units = torch.nn.functional.normalize(torch.randn(3, 4, 16), dim=-1)
    counts = torch.tensor([4, 4, 4])
    keys, values = torch.tensor([[0, 2], [1, 3], [0, 3]]), torch.tensor([[0, 2], [1, 3], [0, 3]])
    labels = nearest_value_labels(keys, values)
    config = MtcConfig(temperature=0.01)
    loss_t2v, loss_v2t, hits, logits, _ = mtc_losses(units, units, counts, keys, values, labels,
                                                      torch.tensor([0.1, 0.5, 0.9]), config)
    assert logits.shape == (3, 2, 2 + 2)  # 3 videos: R = min(3, 2) shifted videos
    assert bool(hits.all()) and loss_t2v.item() < 1e-3 and loss_v2t.item() < 1e-3


def test_unit_means_hand_computed():
    frames = torch.tensor([[[1.0], [3.0], [5.0], [7.0]]])
    frame_unit = torch.tensor([[0, 0, -1, 1]])
    assert unit_means(frames, frame_unit, 3).flatten().tolist() == [2.0, 7.0, 0.0]


def test_units_and_draws():
    owner = np.array([0, 0, -1, 2, 2, 3, -1])
    tokens = [[5], [6], [7, 8], []]  # 1 owns no frame, 3 has no text
    assert unit_subtitles(owner, tokens).tolist() == [0, 2]
    assert unit_subtitles(owner, tokens, hidden=frozenset({2})).tolist() == [0]
    keys, values, draw = draw_units(4, 2, 2, np.random.default_rng(0))
    assert len(set(keys.tolist())) == 2 and len(set(values.tolist())) == 2 and 0 <= draw < 1


def test_video_only_pass_ignores_subtitle_text():
    items = random_items(seed=4, lengths=(8, 6))
    other = [type(it)(it.frame_feats, it.frame_owner, [[SEP, 7, 8, 9]] * len(it.subtitle_ids)) for it in items]
    a, b = collate_videos(items, PAD), collate_videos(other, PAD)
    masked = strip_subtitle_text(a).cross_modal
    assert not bool((masked.attention_mask & (masked.gather_index >= masked.frame_feats.shape[1])).any())
    model = HeroForPretraining(tiny_config()).eval()
    mask = a.clip_mask
    assert torch.allclose(encode_video_only(model.hero, a)[mask], encode_video_only(model.hero, b)[mask], atol=1e-6)
    assert not torch.allclose(model.hero(a)[mask], model.hero(b)[mask], atol=1e-3)  # the full pass reads text


def test_task_model_mtc_output_and_default_off():
    torch.manual_seed(0)
    assert not any(k.startswith("mtc_head.") for k in HeroForPretraining(tiny_config()).state_dict())
    model = HeroForPretraining(tiny_config(), mtc=MtcConfig()).train()
    batch = mtc_batch(random_items(seed=11, lengths=(6, 8, 5, 7)), [0, 1, 2, 3])
    out = model(batch)
    assert torch.isfinite(out.loss) and out.loss.item() > 0
    assert abs(out.loss.item() - 0.25 * (out.loss_t2v.item() + out.loss_v2t.item())) < 1e-6
    assert out.logits_t2v.shape == (4, 2, 2 + 3)
    out.loss.backward()
    assert model.mtc_head.video_proj.weight.grad.abs().sum() > 0
    assert model.hero.temporal.encoder.layers[0].attention.qkv.weight.grad.abs().sum() > 0


def test_sentence_pooling_hand_computed():
    from model.heads.mtc import pool_sentences
    states = torch.tensor([[[1.0], [3.0], [8.0]]])
    mask = torch.tensor([[True, True, False]])
    assert pool_sentences(states, mask, "cls").tolist() == [[1.0]]
    assert pool_sentences(states, mask, "mean").tolist() == [[2.0]]
