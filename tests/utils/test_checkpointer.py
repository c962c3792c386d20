"""The run folder is never silently lost or trusted blindly: the training state is data-only, a folder that
cannot be resumed exactly is refused, interrupted saves leave nothing behind, errors name the file."""
import os
import pickle

import pytest
import torch

from config.schema import TrainOptions
from data.loading.task_collate import MlmExample, collate_mlm
from model.pretrain import HeroForPretraining
from tests.helpers import CLS, PAD, tiny_config
from utils.atomic_io import atomic_torch_save
from utils.checkpointer import STATE_FILE, ResumeError
from utils.distributed import Distributed
from utils.trainer import Trainer, TrainingJob


class Stream:
    def __init__(self, batch):
        self.batch = batch

    def __iter__(self):
        while True:
            yield "mlm_demo", self.batch

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass

    def close(self):
        pass


def trainer(output_dir, steps=2, warmup=1, **flags):
    torch.manual_seed(0)
    model = HeroForPretraining(tiny_config())
    batch = collate_mlm([MlmExample(torch.randn(2, 12), [CLS, 4, 9, 4], [-1, 12, -1, 13])], PAD)
    job = TrainingJob(model=model, save_model=lambda path, state: atomic_torch_save(state, path),
                      batches=Stream(batch), forward=lambda m, task, b, step: m(b),
                      scalars=lambda task, out: {"loss": out.loss.item()})
    cfg = TrainOptions(output_dir=str(output_dir), num_train_steps=steps, valid_steps=1, save_steps=1,
                       warmup_steps=warmup, learning_rate=1e-3, log_steps=1)
    return Trainer(cfg, job, Distributed(), **flags)


@pytest.fixture()
def finished_run(tmp_path):
    trainer(tmp_path / "run").train()
    return tmp_path / "run"


class Payload:
    """Unpickling this runs a command: what a crafted train_state.pt would do under weights_only=False."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_payload_in_the_state_file_is_refused_and_never_runs(finished_run, tmp_path):
    marker = tmp_path / "payload_ran"
    with open(finished_run / "ckpt" / STATE_FILE, "wb") as f:
        pickle.dump({"step": 1, "model": Payload(marker)}, f, protocol=2)
    with pytest.raises(ResumeError, match=rf"{STATE_FILE}: not a training state this library can read") as info:
        trainer(finished_run)
    assert not marker.exists()
    assert "\n" not in str(info.value)


def test_a_corrupt_or_foreign_state_file_is_one_line_naming_it(finished_run):
    state = finished_run / "ckpt" / STATE_FILE
    state.write_bytes(os.urandom(300))
    with pytest.raises(ResumeError, match=str(state)):
        trainer(finished_run)
    torch.save({"weights": torch.zeros(2)}, state)  # readable, but not a training state
    with pytest.raises(ResumeError, match="missing step, model"):
        trainer(finished_run)


def test_checkpoints_without_a_state_are_not_overwritten_by_a_silent_restart(finished_run):
    (finished_run / "ckpt" / STATE_FILE).unlink()
    before = (finished_run / "ckpt" / "model_step_2.pt").read_bytes()
    with pytest.raises(ResumeError, match=r"model_step_2\.pt but no training state.*--overwrite.*--checkpoint"):
        trainer(finished_run)
    assert (finished_run / "ckpt" / "model_step_2.pt").read_bytes() == before
    run = trainer(finished_run, overwrite=True)  # told to start again here
    assert run.step == 0


def test_a_state_without_its_config_is_refused(finished_run):
    (finished_run / "log" / "hps.json").unlink()
    with pytest.raises(ResumeError, match="no .*hps.json.*--allow-config-change"):
        trainer(finished_run)
    assert trainer(finished_run, allow_config_change=True).step == 2
    (finished_run / "log" / "hps.json").write_text("{not json")
    with pytest.raises(ResumeError, match="hps.json: not a readable run config"):
        trainer(finished_run)


def test_temporaries_of_interrupted_saves_are_removed_at_the_next_start(finished_run, capsys):
    leaked = [finished_run / "ckpt" / f".{STATE_FILE}.k3j2.tmp", finished_run / "log" / ".hps.json.tmp"]
    for path in leaked:
        path.write_bytes(b"partial")
    keep = finished_run / "ckpt" / "notes.tmp"  # not the pattern of an interrupted save: kept
    keep.write_text("mine")
    trainer(finished_run)
    assert not any(p.exists() for p in leaked) and keep.exists()
    assert "removed 2 temporary file(s)" in capsys.readouterr().out


def test_a_world_size_change_on_resume_is_one_line(finished_run):
    path = finished_run / "ckpt" / STATE_FILE
    state = torch.load(path, weights_only=True)
    state["world_size"] = 2
    torch.save(state, path)
    with pytest.raises(ResumeError, match="saved with 2 processes, resumed with 1"):
        trainer(finished_run)


def test_the_state_file_holds_only_data_and_resumes(finished_run):
    state = torch.load(finished_run / "ckpt" / STATE_FILE, weights_only=True)  # raises on any other type
    assert state["step"] == 2 and set(state["per_rank"][0]["rng"]) >= {"python", "numpy", "torch"}
    assert trainer(finished_run).step == 2


def test_options_are_validated_and_a_warmup_longer_than_the_run_is_said(tmp_path, capsys):
    trainer(tmp_path / "run", steps=2, warmup=2)
    assert "warmup_steps" not in capsys.readouterr().out
    trainer(tmp_path / "run2", steps=2, warmup=5)
    assert "warning: warmup_steps 5 > num_train_steps 2" in capsys.readouterr().out
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        TrainOptions(learning_rate=0)
    with pytest.raises(ValueError, match="warmup_steps must be >= 0"):
        TrainOptions(warmup_steps=-1)
