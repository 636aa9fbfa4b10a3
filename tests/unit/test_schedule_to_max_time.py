"""ScheduleToMaxTime: the fitted length, the hook on a stub trainer with a fake clock, and a
real Trainer whose cosine schedule must reach its floor when max_time, not max_epochs, ends it."""

from __future__ import annotations

import time
from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import Timer
from torch.utils.data import DataLoader, TensorDataset

from audiokit.callbacks import ScheduleToMaxTime
from audiokit.callbacks import schedule_to_max_time as module
from audiokit.callbacks.schedule_to_max_time import fitted_total_steps
from audiokit.optim.schedulers import WarmupCosine


def test_fitted_total_steps():
    # 100 steps in 50 s, 30 s left: 60 more steps
    assert fitted_total_steps(100, 100, 50.0, 30.0, planned=1000) == 160
    assert fitted_total_steps(100, 100, 50.0, 30.0, planned=120) == 120  # max_epochs ends first
    assert fitted_total_steps(100, 100, 50.0, -5.0, planned=1000) == 101  # time is already up
    assert fitted_total_steps(10, 10, 50.0, 1.0, planned=1000, warmup_steps=40) == 41
    assert fitted_total_steps(100, 100, 50.0, 30.0, planned=float("inf")) == 160  # max_epochs=-1


class FakeTimer(Timer):
    def __init__(self, remaining: float | None):
        super().__init__()
        self.remaining = remaining

    def time_remaining(self, stage: str = "train") -> float | None:
        return self.remaining


def stub_trainer(remaining, scheduler, step=0):
    return SimpleNamespace(callbacks=[FakeTimer(remaining)], global_step=step,
                           strategy=SimpleNamespace(broadcast=lambda obj, src=0: obj),
                           estimated_stepping_batches=1000,
                           lr_scheduler_configs=[SimpleNamespace(scheduler=scheduler)])


def cosine(total=1000, warmup=10):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    return WarmupCosine(opt, warmup_steps=warmup, total_steps=total)


def test_hook_shortens_the_schedule(monkeypatch):
    clock = iter([0.0, 40.0])  # on_train_start, then the first epoch end
    monkeypatch.setattr(module.time, "monotonic", lambda: next(clock))
    sched = cosine()
    trainer = stub_trainer(remaining=80.0, scheduler=sched)
    callback = ScheduleToMaxTime()
    callback.on_train_start(trainer, None)
    trainer.global_step = 100  # 100 steps in 40 s, 80 s left: 200 more
    callback.on_train_epoch_end(trainer, None)
    assert sched.total_steps == 300
    assert sched._factor(300) == pytest.approx(0.0, abs=1e-12)


def test_hook_leaves_runs_without_max_time_alone():
    sched = cosine()
    callback = ScheduleToMaxTime()
    trainer = stub_trainer(remaining=None, scheduler=sched)
    callback.on_train_start(trainer, None)
    trainer.global_step = 500
    callback.on_train_epoch_end(trainer, None)
    assert sched.total_steps == 1000


class SlowTask(pl.LightningModule):
    """Each step sleeps, so a 2-second budget ends the run long before max_epochs."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.lrs: list[float] = []

    def training_step(self, batch, batch_idx):
        time.sleep(0.02)
        self.lrs.append(self.trainer.optimizers[0].param_groups[0]["lr"])
        return (self.w - batch[0].mean()) ** 2

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=1.0)
        sched = WarmupCosine(opt, warmup_steps=2, total_steps=int(self.trainer.estimated_stepping_batches))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def test_real_trainer_decays_by_max_time():
    task = SlowTask()
    data = DataLoader(TensorDataset(torch.randn(10, 1)), batch_size=1)
    trainer = pl.Trainer(max_epochs=1000, max_time={"seconds": 2}, callbacks=[ScheduleToMaxTime()],
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")
    trainer.fit(task, data)
    assert trainer.current_epoch < 1000 and len(task.lrs) < 200  # max_time ended it
    # planned 10,000 steps: without the callback the lr would still be ~1.0 here
    assert task.lrs[-1] < 0.25 * max(task.lrs)


def test_fitted_length_survives_a_resume():
    sched = cosine()
    sched.total_steps = 300
    resumed = cosine()  # as configure_optimizers rebuilds it, from max_epochs
    resumed.load_state_dict(sched.state_dict())
    assert resumed.total_steps == 300
