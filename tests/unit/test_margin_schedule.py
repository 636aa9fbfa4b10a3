"""MarginSchedule: the piecewise-linear formula, epoch and step units inside a real Trainer,
resume-by-position, logging, and loud errors."""

from __future__ import annotations

from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from audiokit.callbacks.margin_schedule import MarginSchedule
from audiokit.losses.margin import AAMSoftmax, SoftmaxHead


def linear(t: float, start: float, final: float, warmup: int, ramp: int) -> float:
    """The schedule written out independently: clip((t - warmup) / ramp, 0, 1) interpolation."""
    if ramp == 0:
        return start if t <= warmup else final
    frac = min(max((t - warmup) / ramp, 0.0), 1.0)
    return start + (final - start) * frac


@pytest.mark.parametrize(("start", "final", "warmup", "ramp"),
                         [(0.0, 0.2, 2, 4), (0.1, 0.3, 0, 10), (0.0, 0.2, 3, 0), (0.3, 0.1, 1, 2)])
def test_value_is_the_linear_formula(start, final, warmup, ramp):
    sched = MarginSchedule(final=final, start=start, warmup=warmup, ramp=ramp)
    for t in range(0, warmup + ramp + 4):
        assert sched.value(t) == pytest.approx(linear(t, start, final, warmup, ramp), abs=1e-12)
    assert sched.value(warmup) == start and sched.value(warmup + max(ramp, 1)) == final


def test_hooks_set_head_margin_and_log():
    head = AAMSoftmax(4, 3, margin=0.5)
    logged = []
    module = SimpleNamespace(loss_fn=head, log=lambda name, v, **kw: logged.append((name, v, kw)))
    sched = MarginSchedule(final=0.2, warmup=1, ramp=4, unit="epoch")
    sched.on_train_epoch_start(SimpleNamespace(current_epoch=3, global_step=999), module)
    assert head.margin == pytest.approx(0.1)
    assert logged == [("train/margin", pytest.approx(0.1), {"on_step": False, "on_epoch": True})]
    sched.on_train_batch_start(SimpleNamespace(current_epoch=3, global_step=999), module, None, 0)
    assert len(logged) == 1  # epoch unit ignores batches


class TinyTask(pl.LightningModule):
    """Trains an AAM head on fixed embeddings and records the margin each batch sees."""

    def __init__(self, head_attr: str = "loss_fn", head: torch.nn.Module | None = None):
        super().__init__()
        setattr(self, head_attr, head if head is not None else AAMSoftmax(4, 2, margin=0.9))
        self.head_attr = head_attr
        self.seen: list[tuple[int, int, float]] = []

    def training_step(self, batch, batch_idx):
        head = getattr(self, self.head_attr)
        self.seen.append((self.current_epoch, self.global_step, head.margin))
        return head(*batch)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(task: pl.LightningModule, sched: MarginSchedule, epochs: int, batches: int = 3,
         ckpt_path: str | None = None, save_to=None) -> pl.Trainer:
    data = TensorDataset(torch.randn(batches * 2, 4), torch.randint(0, 2, (batches * 2,)))
    trainer = pl.Trainer(max_epochs=epochs, callbacks=[sched], logger=False,
                         enable_checkpointing=save_to is not None, default_root_dir=save_to,
                         enable_progress_bar=False, enable_model_summary=False,
                         accelerator="cpu", devices=1)
    trainer.fit(task, DataLoader(data, batch_size=2), ckpt_path=ckpt_path)
    return trainer


def test_epoch_unit_in_trainer():
    task = TinyTask()
    trainer = _fit(task, MarginSchedule(final=0.2, warmup=1, ramp=3, unit="epoch"), epochs=6)
    for epoch, _, margin in task.seen:
        assert margin == pytest.approx(linear(epoch, 0.0, 0.2, 1, 3))
    assert {e for e, _, _ in task.seen} == set(range(6))
    assert trainer.callback_metrics["train/margin"] == pytest.approx(0.2)


def test_step_unit_in_trainer():
    task = TinyTask()
    _fit(task, MarginSchedule(final=0.3, start=0.1, warmup=2, ramp=5, unit="step"), epochs=3)
    assert [s for _, s, _ in task.seen] == list(range(9))
    for _, step, margin in task.seen:
        assert margin == pytest.approx(linear(step, 0.1, 0.3, 2, 5))


def test_resume_continues_from_position(tmp_path):
    sched = MarginSchedule(final=0.2, warmup=1, ramp=4, unit="epoch")
    _fit(TinyTask(), sched, epochs=2, save_to=tmp_path)
    ckpt = next((tmp_path / "checkpoints").glob("*.ckpt"))
    task = TinyTask()  # a fresh head with margin 0.9: the schedule must overwrite it
    _fit(task, MarginSchedule(final=0.2, warmup=1, ramp=4, unit="epoch"), epochs=4,
         ckpt_path=str(ckpt))
    assert [(e, m) for e, _, m in task.seen][::3] == [(2, pytest.approx(0.05)),
                                                      (3, pytest.approx(0.1))]


def test_custom_attribute_name():
    task = TinyTask(head_attr="criterion")
    _fit(task, MarginSchedule(final=0.2, ramp=2, attr="criterion"), epochs=3, batches=1)
    assert [m for _, _, m in task.seen] == pytest.approx([0.0, 0.1, 0.2])


def test_errors_are_loud():
    with pytest.raises(ValueError, match="unit"):
        MarginSchedule(unit="batch")
    with pytest.raises(ValueError, match="ramp"):
        MarginSchedule(ramp=-1)
    with pytest.raises(AttributeError, match="SoftmaxHead without a margin"):
        _fit(TinyTask(head=SoftmaxHead(4, 2)), MarginSchedule(), epochs=1)
    with pytest.raises(AttributeError, match="missing"):
        _fit(TinyTask(head_attr="criterion"), MarginSchedule(), epochs=1)
