"""What every task shares: building parts from config, optimizer and scheduler wiring."""

from __future__ import annotations

import lightning.pytorch as pl
from hydra.utils import instantiate


class AudioTask(pl.LightningModule):
    """Base of all tasks. Sub-configs arrive as plain dicts and are saved as hyperparameters,
    so a checkpoint alone rebuilds the task (see :mod:`audiokit.inference.loading`).

    ``inference`` names the pipeline class that ``audiokit-infer`` uses for this task.
    ``frontend`` may be None or empty (``frontend=none``) for tasks on text, not audio.
    """

    inference: str = ""

    def __init__(self, frontend: dict | None, optim: dict, scheduler: dict | None = None) -> None:
        super().__init__()
        self.frontend = instantiate(frontend) if frontend else None
        self.optim_cfg = optim
        self.scheduler_cfg = scheduler

    def configure_optimizers(self):
        optimizer = instantiate(self.optim_cfg, self.parameters())
        if not self.scheduler_cfg:
            return optimizer
        extra = {}
        if "total_steps" in self.scheduler_cfg and self.scheduler_cfg["total_steps"] is None:
            extra["total_steps"] = int(self.trainer.estimated_stepping_batches)
        scheduler = instantiate(self.scheduler_cfg, optimizer, **extra)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
