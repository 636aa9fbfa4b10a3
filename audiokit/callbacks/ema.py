"""Exponential moving average of the trainable weights, as a Lightning callback.

After every optimizer step: ``ema = d * ema + (1 - d) * weight``, with ``d = decay`` or, with
``warmup``, ``d = min(decay, (1 + n) / (10 + n))`` after ``n`` updates (so the early average
does not cling to the random init). The average is kept in float32 on the model's device.

With ``validate_with_ema: true`` the EMA weights are swapped in for validation (so the
monitored metric, the best-k checkpoints and the exported model are the EMA model's) and the
training weights are swapped back afterwards. Saved checkpoints then hold the EMA weights in
``state_dict`` and the training weights in this callback's state, from which a resume
restores them. Without it, training, validation and checkpoints are unchanged and the EMA
only rides along in the callback state. Either way, resuming continues the average.

Enable with ``+callbacks.ema={_target_: audiokit.callbacks.EMA, decay: 0.999}``. Buffers
(e.g. BatchNorm statistics) are not averaged. Sharded strategies (FSDP, DeepSpeed) are not
supported: each rank would average only its shard.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn


class EMA(Callback):
    def __init__(self, decay: float = 0.999, warmup: bool = False,
                 validate_with_ema: bool = False) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.warmup = warmup
        self.validate_with_ema = validate_with_ema
        self.ema: dict[str, torch.Tensor] = {}
        self.num_updates = 0
        self._last_step = -1                   # global_step seen at the last update
        self._loaded: dict[str, Any] | None = None  # state from a checkpoint, applied at fit start
        self._backup: dict[str, torch.Tensor] | None = None  # training weights while swapped

    @property
    def state_key(self) -> str:
        return self._generate_state_key(decay=self.decay)

    def current_decay(self) -> float:
        if self.warmup:
            return min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        return self.decay

    # ------------------------------------------------------------------ start / resume
    def _ready(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Start the average from the current weights, or take over a checkpoint's state."""
        params = dict(pl_module.named_parameters())
        if self._loaded is not None:
            state, self._loaded = self._loaded, None
            unknown = sorted(state["ema"].keys() - params.keys())
            if unknown:
                raise ValueError(f"EMA state in the checkpoint names parameters the model does "
                                 f"not have: {unknown[:5]}")
            self.ema = {n: w.to(params[n].device, torch.float32) for n, w in state["ema"].items()}
            self.num_updates = state["num_updates"]
            with torch.no_grad():  # the model was restored with EMA weights: put training ones back
                for n, w in state.get("training_weights", {}).items():
                    params[n].copy_(w)
        for n, p in params.items():  # a fresh start (or parameters unfrozen since the checkpoint)
            if p.requires_grad and n not in self.ema:
                self.ema[n] = p.detach().float().clone()
        self._last_step = trainer.global_step

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._ready(trainer, pl_module)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._ready(trainer, pl_module)  # strategies that restore after setup do it after on_fit_start

    # ------------------------------------------------------------------ update
    @torch.no_grad()
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        # with gradient accumulation, not every batch ends with an optimizer step
        if trainer.global_step == self._last_step:
            return
        self._last_step = trainer.global_step
        d = self.current_decay()
        params = dict(pl_module.named_parameters())
        for n, avg in self.ema.items():
            avg.lerp_(params[n].detach().float(), 1.0 - d)  # d * ema + (1 - d) * p
        self.num_updates += 1

    # ------------------------------------------------------------------ swap for validation
    @torch.no_grad()
    def swap_in(self, pl_module: pl.LightningModule) -> None:
        """Put the EMA weights into the model, keeping the training weights aside."""
        params = dict(pl_module.named_parameters())
        self._backup = {n: params[n].detach().clone() for n in self.ema}
        for n, avg in self.ema.items():
            params[n].copy_(avg)

    @torch.no_grad()
    def swap_out(self, pl_module: pl.LightningModule) -> None:
        """Restore the exact training weights."""
        params = dict(pl_module.named_parameters())
        for n, w in self._backup.items():
            params[n].copy_(w)
        self._backup = None

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # only within fit: a later trainer.validate(ckpt_path=...) loads its own weights
        if self.validate_with_ema and self.ema and trainer.state.fn == TrainerFn.FITTING:
            self.swap_in(pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._backup is not None:
            self.swap_out(pl_module)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                     exception: BaseException) -> None:
        if self._backup is not None:  # never leave the EMA weights in as training weights
            self.swap_out(pl_module)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "num_updates": self.num_updates, "ema": self.ema}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._loaded = state_dict

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        # Runs after the state dicts were collected. ModelCheckpoint saves after our
        # on_validation_end (Lightning runs checkpoint callbacks last), so the model normally
        # holds the training weights here; _backup has them if a save comes mid-validation.
        if not (self.validate_with_ema and self.ema):
            return
        weights = checkpoint["state_dict"]
        training = self._backup if self._backup is not None else {n: weights[n] for n in self.ema}
        checkpoint["callbacks"][self.state_key]["training_weights"] = training
        for n, avg in self.ema.items():
            weights[n] = avg.to(weights[n].dtype)
