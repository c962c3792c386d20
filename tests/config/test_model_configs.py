"""The shipped model JSONs, and one-line errors for malformed configs at a real entry script."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from config.loader import ConfigError, load_config
from model.config import HeroModelConfig
from model.pretrain import HeroForPretraining

ROOT = Path(__file__).resolve().parents[2]


def test_finetune_config_gives_reference_sizes():
    config = load_config(HeroModelConfig, ROOT / "config/hero_finetune.json")
    assert (config.f_config.vocab_size, config.f_config.type_vocab_size) == (50272, 2)
    assert (config.f_config.num_hidden_layers, config.c_config.num_hidden_layers) == (6, 3)
    assert config.f_config.layer_norm_eps == 1e-12 and config.vfeat_dim == 4352
    # ≈121 M in the reference, which also stores two never-used poolers (2 × 590,592)
    params = sum(p.numel() for p in HeroForPretraining(config).parameters())
    assert params == 119_856_078


def test_pretrain_config_is_robertas_shape():
    config = load_config(HeroModelConfig, ROOT / "config/hero_pretrain.json")
    assert (config.f_config.vocab_size, config.f_config.type_vocab_size) == (50265, 1)


def test_mismatched_hidden_sizes_rejected(tmp_path):
    raw = json.loads((ROOT / "config/hero_finetune.json").read_text())
    raw["c_config"]["hidden_size"] = 384
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="share hidden_size"):
        load_config(HeroModelConfig, path)


def run_convert(model_config):
    return subprocess.run([sys.executable, "scripts/convert_hero_checkpoint.py", "in.pt", "out.pt",
                           "--model-config", str(model_config)], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("mutate, expected", [
    (lambda raw: raw["f_config"].update(num_hiden_layers=6), ["num_hiden_layers", "num_hidden_layers"]),
    (lambda raw: raw["c_config"].update(hidden_size="768"), ["c_config.hidden_size", "int"]),
    (lambda raw: raw.update(vfeat_dims=2048), ["vfeat_dims", "vfeat_dim"]),
])
def test_malformed_config_gives_one_line_error(tmp_path, mutate, expected):
    raw = json.loads((ROOT / "config/hero_finetune.json").read_text())
    mutate(raw)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(raw))
    result = run_convert(path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and all(word in lines[0] for word in expected)


def test_missing_config_file_gives_one_line_error(tmp_path):
    result = run_convert(tmp_path / "nope.json")
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and "nope.json" in lines[0] and "not found" in lines[0]
