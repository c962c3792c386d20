"""scripts/convert_hero_checkpoint.py on the reference weights of the parity fixture."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from data.loading.collate import collate_videos
from devtools.parity import build_models, model_config_from_fixture, video_items
from model.pretrain import HeroForPretraining
from pretrained.checkpoint_file import read_weights
from pretrained.state_loading import load_state_into
from tests.helpers import FIXTURE

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fixture():
    return torch.load(FIXTURE, weights_only=True)


def convert(tmp_path, state, fixture):
    source, target = tmp_path / "ref.pt", tmp_path / "project.pt"
    torch.save(state, source)
    model_json = tmp_path / "model.json"
    model_json.write_text(json.dumps(fixture["model_config"]))
    result = subprocess.run([sys.executable, "scripts/convert_hero_checkpoint.py", str(source), str(target),
                             "--model-config", str(model_json)], cwd=ROOT, capture_output=True, text=True)
    return result, target


def test_fp16_reference_checkpoint_converts_and_reproduces_outputs(tmp_path, fixture):
    state = {k: v.half() if v.is_floating_point() else v for k, v in fixture["pretrain_state"].items()}
    state["vocab_padded"] = True
    result, target = convert(tmp_path, state, fixture)
    assert result.returncode == 0, result.stderr
    assert "vocab_padded" in result.stdout and "HeroForPretraining" in result.stdout
    weights = read_weights(target)
    assert weights.source_format == "project" and weights.model_config["vfeat_dim"] == 24
    model = HeroForPretraining(model_config_from_fixture(fixture)).eval()
    load_state_into(model, weights.state_dict, allow_new_heads=False)
    reference_model, _ = build_models(fixture)
    video = collate_videos(video_items(fixture), fixture["tokens"]["pad"])
    with torch.no_grad():
        # fp16 storage rounds the weights: close to, not equal to, the fp32 reference
        assert (model.hero(video) - reference_model.hero(video)).abs().max() < 5e-2


def test_reference_checkpoint_is_read_directly(tmp_path, fixture):
    path = tmp_path / "ref.pt"
    torch.save(fixture["videoqa_state"], path)
    weights = read_weights(path)
    assert weights.source_format == "reference" and "qa_head.answer_pool.weight" in weights.state_dict


def test_unknown_keys_are_named(tmp_path, fixture):
    state = dict(fixture["pretrain_state"])
    state["v_encoder.f_encoder.extra_head.weight"] = torch.zeros(2)
    result, _ = convert(tmp_path, state, fixture)
    assert result.returncode != 0 and "v_encoder.f_encoder.extra_head.weight" in result.stderr


def test_missing_keys_are_named(tmp_path, fixture):
    state = dict(fixture["pretrain_state"])
    del state["v_encoder.frame_transform.net.1.bias"]
    result, _ = convert(tmp_path, state, fixture)
    assert result.returncode != 0 and "missing key hero.frame_transform.linear.bias" in result.stderr
