"""One short parameter summary when training starts, in place of Lightning's model summary
table, whose FLOPs column reads 0 for every audiokit task (they have no example input)."""

from __future__ import annotations

import logging

import lightning.pytorch as pl
from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger("audiokit.train")


def parameter_summary(module: pl.LightningModule) -> str:
    """``TaskClass: 0.31 M parameters (0.31 M trainable): model 0.30 M, loss_fn 0.01 M``:
    the task's total, then each top-level part that has parameters."""
    def millions(n: int) -> str:
        return f"{n / 1e6:.2f} M"

    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    parts = [(name, sum(p.numel() for p in child.parameters()))
             for name, child in module.named_children()]
    listed = ", ".join(f"{name} {millions(n)}" for name, n in parts if n)
    return (f"{type(module).__name__}: {millions(total)} parameters ({millions(trainable)} "
            f"trainable){': ' + listed if listed else ''}")


class ParameterSummary(pl.Callback):
    """Logs :func:`parameter_summary` once, on rank zero, when fitting starts."""

    @rank_zero_only
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        log.info(parameter_summary(pl_module))
