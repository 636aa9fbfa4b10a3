"""End a step-based learning-rate schedule when ``trainer.max_time`` ends the run.

A cosine schedule sized from ``max_epochs`` decays to its floor only if the run reaches
``max_epochs``. Under a wall-clock budget (``trainer.max_time``) on a slower machine the run
stops first, mid-decay, and the last and best weights come from a learning rate still far
from its floor. This callback measures the steps per second so far (validation included) at
the end of every training epoch and shortens the scheduler's ``total_steps`` to the steps the
remaining time allows, never beyond what ``max_epochs`` gives::

    total_steps = min(max_epochs steps, step + remaining_seconds * steps_so_far / seconds_so_far)

It re-estimates each epoch, so the decay tracks the measured speed; the run is then no longer
bit-for-bit reproducible across machines (the schedule depends on speed), which is the price of
a wall-clock budget. Without ``max_time`` it does nothing. The scheduler must read a
``total_steps`` attribute on every step (``audiokit.optim.schedulers.WarmupCosine`` does); its
``warmup_steps`` is left alone. A resumed run keeps the shortened ``total_steps`` (it is part of
the scheduler's state) and re-measures its speed. Under DDP, rank 0's estimate is broadcast.

No recipe uses it by default: recipes are bounded by ``max_epochs``/``max_steps`` so that a
result does not depend on machine load, with ``max_time`` only as a guard. For a run you mean
to bound by the clock, enable it with
``+callbacks.fit_schedule={_target_: audiokit.callbacks.ScheduleToMaxTime}``.
"""

from __future__ import annotations

import logging
import time

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, Timer

log = logging.getLogger(__name__)


def fitted_total_steps(step: int, steps_measured: int, seconds_measured: float,
                       seconds_left: float, planned: float, warmup_steps: int = 0) -> int:
    """The schedule length that ends with the time budget: ``planned`` at most, and never
    before the current step or the end of the warm-up."""
    projected = step + int(max(seconds_left, 0.0) * steps_measured / seconds_measured)
    return int(max(min(planned, projected), step + 1, warmup_steps + 1))


class ScheduleToMaxTime(Callback):
    def __init__(self, min_steps: int = 20) -> None:
        self.min_steps = min_steps  # measure at least this many steps before fitting
        self._start: tuple[int, float] | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = (trainer.global_step, time.monotonic())

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
        seconds_left = timer.time_remaining() if timer is not None else None
        if seconds_left is None or self._start is None:
            return
        start_step, start_time = self._start
        steps = trainer.global_step - start_step
        if steps < self.min_steps:
            return
        planned = trainer.estimated_stepping_batches  # inf with max_epochs=-1: time alone ends it
        for config in trainer.lr_scheduler_configs:
            scheduler = config.scheduler
            if getattr(scheduler, "total_steps", None) is None:
                continue
            total = fitted_total_steps(trainer.global_step, steps, time.monotonic() - start_time,
                                       seconds_left, planned, getattr(scheduler, "warmup_steps", 0))
            # Every rank must step the same schedule, or DDP replicas drift apart: rank 0's
            # clock decides.
            total = trainer.strategy.broadcast(total, src=0)
            if total != scheduler.total_steps:
                log.info("ScheduleToMaxTime: %s total_steps %d -> %d (%.0f s left)",
                         type(scheduler).__name__, scheduler.total_steps, total, seconds_left)
                scheduler.total_steps = total
