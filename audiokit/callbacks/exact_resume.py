"""What Lightning's resume leaves out, put back: a resumed run continues exactly as the
killed one would have.

- The global RNG states (torch, CUDA, numpy, Python): Lightning's checkpoints hold weights,
  optimizers, schedulers and loop counters, not the random generators, and without them a
  resumed run draws other dropout masks, SpecAugment masks and (with ``num_workers=0``)
  augmentations. They are put back at ``on_train_start``, the last hook before the next
  training batch is loaded (the sanity check and the DataLoader set-up come before it;
  :class:`audiokit.data.resumable.ResumableDataLoader` starts its iterator without drawing
  from the global RNG).
- The training DataLoader's position. Lightning saves it, but hands it back only when it
  builds the DataLoader after the restore; a scheduler sized by
  ``trainer.estimated_stepping_batches`` (ours are) makes it build the DataLoader before, and
  the saved position is then never loaded (Lightning 2.6 ``FitLoop.setup_data`` returns early).
  Loading it at ``on_train_start`` is in time: the loader's iterator starts at its first batch.
"""

from __future__ import annotations

import random
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

from audiokit.data.resumable import ResumableDataLoader


def rng_states() -> dict[str, Any]:
    # numpy's state holds an ndarray: stored as a list so that weights_only loading reads it
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    states = {"torch": torch.get_rng_state(), "numpy": [kind, keys.tolist(), pos, has_gauss, gauss],
              "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class ExactResume(pl.Callback):
    """Added to every audiokit run by ``build_trainer``."""

    def __init__(self) -> None:
        self._loaded: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return rng_states()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._loaded = state_dict

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # (a no-op when Lightning loaded the position itself, or when nothing was saved)
        trainer.fit_loop._load_combined_loader_states()
        # Where the resumed epoch starts is the trainer's count of completed batches, read when
        # the loader starts (after the epoch loop has restored it): see ResumableDataLoader.
        epoch_loop = trainer.fit_loop.epoch_loop
        for loader in trainer.fit_loop._combined_loader.flattened:
            if isinstance(loader, ResumableDataLoader):
                loader.completed_batches = lambda: epoch_loop.batch_progress.current.completed
        if self._loaded is not None:
            set_rng_states(self._loaded)
            self._loaded = None
        finish_restart_on_epoch_boundary(trainer.fit_loop)


def finish_restart_on_epoch_boundary(fit_loop) -> None:
    """A checkpoint written on the last batch of an epoch (``on_train_batch_end``): on restore,
    Lightning 2.6 closes that epoch (``FitLoop.reset``) but leaves the fit loop marked as
    restarting mid-epoch, so the next epoch runs without being counted as started and without
    its ``on_train_epoch_start`` hooks; a checkpoint taken in it then resumes that epoch from its
    first batch. The next epoch is a fresh one: the fit loop's restart is over."""
    epoch_loop = fit_loop.epoch_loop
    if (fit_loop.restarted_mid_epoch and epoch_loop.restarted_on_train_batch_end
            and epoch_loop.batch_progress.is_last_batch):
        fit_loop.reset_restart_stage()
        fit_loop._restarting = False  # not the setter: the epoch loop still restarts its counters
