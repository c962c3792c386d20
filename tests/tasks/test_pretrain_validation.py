"""Pre-training validation reports each accuracy with its chance level on the same batches."""
import json

import pytest
import torch

from config.cli import parse_cli
from config.schema import PretrainConfig
from data.loading.meta_loader import validation_loader
from tasks.pretrain import build_pretrain_job
from tests.helpers_runs import tiny_pretrain_config
from utils.distributed import Distributed


def test_every_accuracy_comes_with_its_chance_level(demo_dir, tmp_path):
    path = tiny_pretrain_config(tmp_path, demo_dir)
    cfg_json = json.loads(path.read_text())
    cfg_json["targets"][0]["splits"][0]["tasks"] = ["mlm", "mfm-nce", "fom", "vsm", "mffr"]
    cfg_json["targets"][0]["splits"][0]["ratio"] = [1] * 5
    path.write_text(json.dumps(cfg_json))
    cfg, _ = parse_cli(PretrainConfig, ["--config", str(path)])
    job = build_pretrain_job(cfg, Distributed(), lambda _m: None)
    metrics = job.validate(job.model, 0)
    assert {name.split("_")[0] for name in metrics} == {"mlm", "mfm-nce", "fom", "vsm", "mffr"}
    for name, values in metrics.items():
        task = name.split("_")[0]
        if task == "mffr":
            assert set(values) == {"loss"}
            continue
        assert set(values) == {"loss", "r1" if task == "vsm" else "acc", "chance"}
        # uniform guesses among ≥ 8 clips (VSM), ~hundreds of frames (MFM-NCE); FOM: 1 / shuffled frames per clip
        upper = {"mlm": 0.5, "mfm-nce": 0.02, "fom": 0.5, "vsm": 1 / 7}[task]
        assert 0 < values["chance"] < upper, (name, values)


def test_mlm_chance_is_the_best_constant_guess_over_the_whole_validation_set(demo_dir, tmp_path):
    """Not a per-batch majority (an oracle that knows each batch's labels): one token for the whole set."""
    cfg, _ = parse_cli(PretrainConfig, ["--config", str(tiny_pretrain_config(tmp_path, demo_dir))])
    job = build_pretrain_job(cfg, Distributed(), lambda _m: None)
    metrics = job.validate(job.model, 0)
    name = next(n for n in metrics if n.startswith("mlm"))
    closure = dict(zip(job.validate.__code__.co_freevars, (c.cell_contents for c in job.validate.__closure__)))
    labels = torch.cat([b.labels for b in validation_loader(closure["val_sets"][name], cfg.val_batch_size)])
    best_constant = torch.bincount(labels).max().item() / len(labels)
    assert metrics[name]["chance"] == pytest.approx(best_constant)
