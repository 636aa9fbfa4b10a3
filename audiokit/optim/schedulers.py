"""Warm-up learning-rate schedules, stepped every optimizer step (not every epoch)."""

from __future__ import annotations

import logging
import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

log = logging.getLogger(__name__)


class NoamWarmup(LambdaLR):
    """The Transformer ("Noam") schedule, scaled so the peak equals the optimizer's lr.

    ``lr(step) = lr * min(step / warmup, sqrt(warmup / step))``: linear warm-up to ``lr``
    at ``warmup_steps``, then inverse-square-root decay. This is ESPnet's ``WarmupLR``;
    the original ``d_model ** -0.5`` factor is folded into the configured lr.
    """

    def __init__(self, optimizer: Optimizer, warmup_steps: int = 25000, last_epoch: int = -1):
        if warmup_steps < 1:
            raise ValueError(f"warmup_steps must be >= 1, got {warmup_steps}")
        self.warmup_steps = warmup_steps
        super().__init__(optimizer, self._factor, last_epoch)

    def _factor(self, step: int) -> float:
        step = max(step, 1)
        return min(step / self.warmup_steps, math.sqrt(self.warmup_steps / step))


class WarmupCosine(LambdaLR):
    """Linear warm-up to the optimizer's lr, then cosine decay to ``min_ratio * lr``.

    ``total_steps=None`` lets the task fill it in from the trainer's estimate.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        warmup_steps: int = 500,
        total_steps: int | None = None,
        min_ratio: float = 0.0,
        last_epoch: int = -1,
    ):
        if total_steps is None or total_steps < 1:
            raise ValueError(f"total_steps must be a positive number of steps, got {total_steps}")
        if total_steps <= warmup_steps:  # a short (debug) run: keep a real decay phase
            # (expected for debug runs, so info, not a warning on every one)
            log.info("WarmupCosine: warmup_steps %d >= total_steps %d; warming up for %d",
                     warmup_steps, total_steps, total_steps // 10)
            warmup_steps = total_steps // 10
        self.warmup_steps, self.total_steps, self.min_ratio = warmup_steps, total_steps, min_ratio
        super().__init__(optimizer, self._factor, last_epoch)

    def _factor(self, step: int) -> float:
        if step < self.warmup_steps:  # warmup_steps may be 0 after the short-run clamp
            return (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
