"""The reference-name adapter and strict weight loading."""
import pytest
import torch

from model.pretrain import HeroForPretraining
from model.vcmr import HeroForVcmr
from model.video_qa import HeroForVideoQA
from pretrained.reference_keys import is_reference_state_dict, project_to_reference, reference_to_project
from pretrained.state_loading import WeightLoadError, config_from_state, load_state_into
from tests.helpers import tiny_config


def test_round_trip_and_qkv_fusion_order():
    model = HeroForPretraining(tiny_config())
    state = model.state_dict()
    reference = project_to_reference(state)
    assert is_reference_state_dict(reference)
    q = reference["v_encoder.f_encoder.encoder.layer.1.attention.self.query.weight"]
    v = reference["q_feat_attn.query_self_attention.self.value.bias"]
    assert torch.equal(q, state["hero.cross_modal.encoder.layers.1.attention.qkv.weight"][:32])
    assert torch.equal(v, state["retrieval.query_encoder.self_attention.qkv.bias"][64:])
    back, report = reference_to_project(reference)
    assert report.unknown == [] and set(back) == set(state)
    assert all(torch.equal(back[k], state[k]) for k in state)


def test_fp16_legacy_names_and_unused_keys():
    state = project_to_reference(HeroForVcmr(tiny_config()).state_dict())
    reference = {k: v.half() for k, v in state.items()}
    ln = "v_encoder.c_encoder.embeddings.LayerNorm.weight"
    reference[ln.replace("weight", "gamma")] = reference.pop(ln)
    reference["vocab_padded"] = True
    reference["v_encoder.f_encoder.pooler.dense.weight"] = torch.zeros(32, 32)
    reference["v_encoder.pad"] = torch.zeros(8, 32)
    reference["v_encoder.something_new.weight"] = torch.zeros(3)
    converted, report = reference_to_project(reference)
    assert converted["hero.temporal.embeddings.norm.weight"].dtype == torch.float32
    assert set(report.dropped_unused) == {"vocab_padded", "v_encoder.f_encoder.pooler.dense.weight", "v_encoder.pad"}
    assert report.unknown == ["v_encoder.something_new.weight"]


def test_load_reports_new_and_unused_heads():
    config = tiny_config()
    pretrained = HeroForPretraining(config).state_dict()
    report = load_state_into(HeroForVideoQA(config), pretrained)
    assert any(k.startswith("qa_head.") for k in report.newly_initialised)
    assert any(k.startswith("mlm_head.") for k in report.unused)
    assert "qa_head" in report.summary()


def test_load_errors_name_the_keys():
    config = tiny_config()
    state = HeroForVcmr(config).state_dict()
    broken = dict(state)
    broken["hero.temporal.encoder.layers.0.attention.qkv.wieght"] = broken.pop(
        "hero.temporal.encoder.layers.0.attention.qkv.weight")
    with pytest.raises(WeightLoadError) as error:
        load_state_into(HeroForVcmr(config), broken, source="ckpt.pt")
    message = str(error.value)
    assert "ckpt.pt" in message and "unknown key hero.temporal.encoder.layers.0.attention.qkv.wieght" in message
    assert "closest model key: hero.temporal.encoder.layers.0.attention.qkv.weight" in message
    assert "missing key hero.temporal.encoder.layers.0.attention.qkv.weight" in message
    wrong = dict(state)
    wrong["hero.frame_transform.linear.weight"] = torch.zeros(32, 99)
    with pytest.raises(WeightLoadError, match=r"hero.frame_transform.linear.weight has shape \(32, 99\)"):
        load_state_into(HeroForVcmr(config), wrong)


def test_loaded_weights_give_identical_outputs():
    config = tiny_config()
    source = HeroForPretraining(config).eval()
    target = HeroForPretraining(config).eval()
    load_state_into(target, reference_to_project(project_to_reference(source.state_dict()))[0])
    for a, b in zip(source.state_dict().values(), target.state_dict().values()):
        assert torch.equal(a, b)
    assert target.mlm_head.decoder.weight is target.hero.cross_modal.text_embeddings.word.weight


def test_config_is_read_off_the_weights():
    config = tiny_config(hidden=32, f_layers=3, c_layers=2, vfeat_dim=10, vocab=77, max_clip_len=33)
    state = HeroForPretraining(config).state_dict()
    inferred = config_from_state(state, tiny_config())
    assert (inferred.f_config.num_hidden_layers, inferred.c_config.num_hidden_layers) == (3, 2)
    assert (inferred.vfeat_dim, inferred.f_config.vocab_size, inferred.max_clip_len) == (10, 77, 33)
