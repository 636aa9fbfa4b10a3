"""Margin warm-up for margin-softmax heads: hold ``start``, ramp linearly to ``final``, then hold.

Training an AAM/AM-softmax head with its full margin from random init often stalls, so the
WeSpeaker and VoxSRC ECAPA recipes start with margin 0 and raise it later. With ``t`` the
current epoch (``unit: epoch``, set at each epoch start) or optimizer step (``unit: step``,
set before each batch)::

    margin(t) = start                                              t <= warmup
              = start + (final - start) * (t - warmup) / ramp      warmup < t < warmup + ramp
              = final                                              t >= warmup + ramp

(``ramp: 0`` jumps to ``final`` right after the warm-up). The value depends only on ``t``, so
a resumed run picks up where it stopped. The head is ``getattr(pl_module, attr)``
(``loss_fn`` by default) and must have a ``margin`` attribute; the value is logged as
``train/margin``.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback


class MarginSchedule(Callback):
    def __init__(self, final: float = 0.2, start: float = 0.0, warmup: int = 0, ramp: int = 0,
                 unit: str = "epoch", attr: str = "loss_fn") -> None:
        if unit not in ("epoch", "step"):
            raise ValueError(f"MarginSchedule unit must be 'epoch' or 'step', got {unit!r}")
        if warmup < 0 or ramp < 0:
            raise ValueError(f"MarginSchedule warmup and ramp must be >= 0, got {warmup}, {ramp}")
        self.final = final
        self.start = start
        self.warmup = warmup
        self.ramp = ramp
        self.unit = unit
        self.attr = attr

    def value(self, t: int) -> float:
        """The margin at epoch or step ``t``."""
        if t <= self.warmup:
            return self.start
        if t >= self.warmup + self.ramp:
            return self.final
        return self.start + (self.final - self.start) * (t - self.warmup) / self.ramp

    def _head(self, pl_module: pl.LightningModule) -> Any:
        head = getattr(pl_module, self.attr, None)
        if head is None or not hasattr(head, "margin"):
            kind = "missing" if head is None else f"a {type(head).__name__} without a margin"
            raise AttributeError(
                f"MarginSchedule needs pl_module.{self.attr} to be a margin head (AAMSoftmax, "
                f"AMSoftmax), but it is {kind}; drop the callback or change the loss"
            )
        return head

    def _apply(self, t: int, pl_module: pl.LightningModule, on_step: bool) -> None:
        margin = self.value(t)
        self._head(pl_module).margin = margin
        pl_module.log("train/margin", margin, on_step=on_step, on_epoch=not on_step)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Fails before the sanity check if there is no margin head, and makes validation before
        # the first epoch (or right after a resume) use the scheduled margin too.
        t = trainer.current_epoch if self.unit == "epoch" else trainer.global_step
        self._head(pl_module).margin = self.value(t)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.unit == "epoch":
            self._apply(trainer.current_epoch, pl_module, on_step=False)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        if self.unit == "step":
            self._apply(trainer.global_step, pl_module, on_step=True)
