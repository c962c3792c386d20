"""Trainer mechanics on an in-process job: non-finite losses are reported and skipped, fp16 scaling."""
from dataclasses import dataclass

import torch

from config.schema import TrainOptions
from data.loading.task_collate import MlmExample, collate_mlm
from model.pretrain import HeroForPretraining
from tests.helpers import CLS, PAD, tiny_config
from utils.atomic_io import atomic_torch_save
from utils.distributed import Distributed
from utils.trainer import Trainer, TrainingJob


class ListStream:
    """A tiny resumable stream of the same MLM batch."""

    def __init__(self, batch):
        self.batch, self.position = batch, 0

    def __iter__(self):
        while True:
            self.position += 1
            yield "mlm_demo", self.batch

    def state_dict(self):
        return {"position": self.position}

    def close(self):
        pass

    def load_state_dict(self, state):
        self.position = state["position"]


@dataclass
class Poisoned:
    loss: torch.Tensor


def make_trainer(tmp_path, poison_step=None, precision="fp32"):
    torch.manual_seed(0)
    model = HeroForPretraining(tiny_config())
    batch = collate_mlm([MlmExample(torch.randn(2, 12), [CLS, 4, 9, 4], [-1, 12, -1, 13])], PAD)

    def forward(m, task, b, step):
        output = m(b)
        return Poisoned(output.loss * float("nan")) if step == poison_step else output

    job = TrainingJob(model=model, save_model=lambda path, state: atomic_torch_save(state, path),
                      batches=ListStream(batch), forward=forward, scalars=lambda task, out: {"loss": out.loss.item()})
    cfg = TrainOptions(output_dir=str(tmp_path / "run"), num_train_steps=3, valid_steps=100, save_steps=100,
                       warmup_steps=1, learning_rate=1e-3, precision=precision, log_steps=1)
    return Trainer(cfg, job, Distributed()), model


def test_non_finite_loss_is_reported_and_the_update_skipped(tmp_path, capsys):
    trainer, model = make_trainer(tmp_path, poison_step=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.train_step("mlm_demo", [trainer.job.batches.batch])  # step 1: a real update
    trainer.step = 1
    after_first = {k: v.clone() for k, v in model.state_dict().items()}
    assert any(not torch.equal(before[k], after_first[k]) for k in before)
    scalars = trainer.train_step("mlm_demo", [trainer.job.batches.batch])  # step 2: NaN
    assert scalars == {"skipped": 1.0} and trainer.skipped_steps == 1
    assert all(torch.equal(after_first[k], v) for k, v in model.state_dict().items())
    assert "step 2 task mlm_demo: non-finite loss" in capsys.readouterr().out
    assert all(p.grad is None for p in model.parameters())


def test_fp16_precision_uses_a_grad_scaler_and_trains(tmp_path):
    trainer, model = make_trainer(tmp_path, precision="fp16")
    assert trainer.precision.scaler.is_enabled()
    trainer.train()
    losses = (tmp_path / "run" / "log" / "train_losses.jsonl").read_text().splitlines()
    assert len(losses) == 3
