"""pretrained.from_pretrained: one read of the checkpoint, the model checked against the data, one-line errors."""
import json

import pytest
import torch

from config.schema import WeightOptions
from model.pretrain import HeroForPretraining
from model.vcmr import HeroForVcmr
from pretrained.checkpoint_file import model_writer
from pretrained.loading import DataShape, PretrainedError, from_pretrained, resolve_text_model
from tests.helpers import tiny_config


@pytest.fixture()
def checkpoint(tmp_path):
    config = tiny_config()
    path = tmp_path / "pretrained.pt"
    state = {k: v for k, v in HeroForPretraining(config).state_dict().items() if not k.startswith("retrieval.")}
    model_writer(config)(path, state)  # a pre-training checkpoint without the VSM head
    return path, config


def test_checkpoint_is_read_once_and_heads_are_reported(checkpoint, monkeypatch):
    path, config = checkpoint
    reads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: reads.append(a[0]) or real_load(*a, **k))
    loaded = from_pretrained(HeroForVcmr, WeightOptions(checkpoint=str(path)), DataShape(12, 50, 20))
    assert len(reads) == 1
    assert isinstance(loaded.model, HeroForVcmr) and loaded.config.vfeat_dim == config.vfeat_dim
    assert "new heads: retrieval" in loaded.summary and "unused checkpoint heads: fom_head" in loaded.summary
    backbone = "hero.cross_modal.text_embeddings.word.weight"
    assert torch.equal(loaded.model.state_dict()[backbone], torch.load(path)["state_dict"][backbone])


@pytest.mark.parametrize("data, words", [
    (DataShape(feature_dim=13), ["13 dims", "vfeat_dim 12", "pretrained.pt"]),
    (DataShape(vocab_size=500), ["500 ids", "99"]),
    (DataShape(max_clip_len=50), ["max_clip_len 50", "max_clip_len 20", "--max_clip_len 20"]),
])
def test_data_that_the_model_does_not_fit_is_one_line_naming_the_source(checkpoint, data, words):
    path, _ = checkpoint
    with pytest.raises(PretrainedError) as info:
        from_pretrained(HeroForVcmr, WeightOptions(checkpoint=str(path)), data)
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_max_clip_len_of_the_model_json_is_checked_too(tmp_path):
    model_json = tmp_path / "model.json"
    model_json.write_text(json.dumps({"max_clip_len": 100, "vfeat_dim": 12}))
    with pytest.raises(PretrainedError, match=r"max_clip_len 60 .*model.json.* max_clip_len 100"):
        from_pretrained(HeroForVcmr, WeightOptions(model_config=str(model_json)), DataShape(max_clip_len=60))


def test_evaluation_refuses_a_checkpoint_without_the_task_heads(checkpoint):
    path, _ = checkpoint
    with pytest.raises(PretrainedError, match="needs a fine-tuned HeroForVcmr checkpoint"):
        from_pretrained(HeroForVcmr, WeightOptions(checkpoint=str(path)), DataShape(), require_task_heads=True)
    with pytest.raises(PretrainedError, match="needs --checkpoint"):
        from_pretrained(HeroForVcmr, WeightOptions(), DataShape(), require_task_heads=True)


def test_text_init_package_must_ship_a_model():
    with pytest.raises(PretrainedError, match="ships no model"):
        resolve_text_model("package:json")  # installed, but no get_model_path()
    with pytest.raises(PretrainedError, match="not installed"):
        resolve_text_model("package:no_such_package_xyz")
