"""Clips longer than the Temporal Transformer's frame position table: a new model's table is sized from
max_clip_len; a checkpoint's table is extended only on request (tile rule), else one clear error."""
import json

import pytest
import torch

from config.schema import WeightOptions
from model.vcmr import HeroForVcmr
from pretrained.checkpoint_file import model_writer
from pretrained.loading import TEMPORAL_POSITIONS, DataShape, PretrainedError, from_pretrained, tile_positions
from tests.helpers import tiny_config


def test_tile_rule_hand_computed():
    table = torch.arange(3.0)[:, None]  # rows 0, 1, 2
    assert tile_positions(table, 8).flatten().tolist() == [0, 1, 2, 0, 1, 2, 0, 1]


@pytest.fixture()
def short_table_checkpoint(tmp_path):
    config = tiny_config(max_clip_len=100)
    assert config.c_config.max_position_embeddings == 64
    path = tmp_path / "vcmr.pt"
    model_writer(config)(path, HeroForVcmr(config).state_dict())
    return path


def test_checkpoint_table_too_short_is_one_clear_error(short_table_checkpoint):
    with pytest.raises(PretrainedError) as info:
        from_pretrained(HeroForVcmr, WeightOptions(checkpoint=str(short_table_checkpoint)), DataShape(max_clip_len=100))
    message = str(info.value)
    assert "\n" not in message
    assert all(w in message for w in ("max_clip_len 100", "64 rows", "--frame_position_extension tile")), message


def test_tile_extension_keeps_trained_rows_and_runs_long_clips(short_table_checkpoint):
    loaded = from_pretrained(HeroForVcmr, WeightOptions(checkpoint=str(short_table_checkpoint),
                                                        frame_position_extension="tile"), DataShape(max_clip_len=100))
    saved = torch.load(short_table_checkpoint)["state_dict"][TEMPORAL_POSITIONS]
    table = loaded.model.state_dict()[TEMPORAL_POSITIONS]
    assert table.shape[0] == 100 and loaded.config.c_config.max_position_embeddings == 100
    assert torch.equal(table[:64], saved) and torch.equal(table[70], saved[6])
    assert "extended from 64 to 100 rows" in loaded.summary
    temporal = loaded.model.hero.temporal.eval()
    out = temporal(torch.randn(1, 100, 32), torch.ones(1, 100, dtype=torch.bool))
    assert out.shape == (1, 100, 32) and torch.isfinite(out).all()


def test_new_model_table_is_sized_from_max_clip_len(tmp_path):
    model_json = tmp_path / "model.json"
    model_json.write_text(json.dumps({"max_clip_len": 600, "vfeat_dim": 12}))
    loaded = from_pretrained(HeroForVcmr, WeightOptions(model_config=str(model_json)), DataShape(max_clip_len=600))
    assert loaded.model.state_dict()[TEMPORAL_POSITIONS].shape[0] == 600
    assert "sized to max_clip_len 600" in loaded.summary
