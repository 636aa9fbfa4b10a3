"""Save the full training state when the cluster warns of preemption or the time limit.

SLURM sends a signal some seconds before it stops a job (``sbatch --signal=USR1@90``;
submitit asks for USR2). This callback saves ``preempted.ckpt`` on that signal, then hands
the signal on to whoever handled it before: submitit (which requeues the job with the same
overrides) or Lightning's SLURM environment (``scontrol requeue``). With nobody to hand it
to, it stops the run with a message. The requeued run's ``resume=auto`` picks the newest
checkpoint, so it continues from the step the signal arrived at, not from the last periodic one.
SIGTERM (what SLURM sends when it preempts a job with PreemptMode=REQUEUE, and requeues it
itself) also saves ``preempted.ckpt``, after the batch in progress.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)


def preemption_signal(name: str) -> signal.Signals:
    """``auto``: submitit's signal inside a submitit job (USR2 unless SUBMITIT_PREEMPT_SIGNAL
    says otherwise), else USR1 as Lightning's SLURM environment expects."""
    if name == "auto":
        in_submitit = "SUBMITIT_FOLDER" in os.environ  # set by submitit inside every job
        name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2") if in_submitit else "USR1"
    name = name.upper()
    return signal.Signals[name if name.startswith("SIG") else "SIG" + name]


class CheckpointOnPreemption(pl.Callback):
    def __init__(self, dirpath: str, signal_name: str = "auto",
                 filename: str = "preempted.ckpt") -> None:
        self.path = Path(dirpath) / filename
        self.signal_name = signal_name
        self._signum: signal.Signals | None = None
        self._previous = None
        self._trainer: pl.Trainer | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Installed now, after Lightning's own handlers, so ours runs first and chains to theirs.
        self._trainer = trainer
        self._signum = preemption_signal(self.signal_name)
        self._previous = signal.getsignal(self._signum)
        signal.signal(self._signum, self._on_signal)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                     exception: BaseException) -> None:
        self._restore()
        if isinstance(exception, SIGTERMException):
            # SIGTERM (SLURM preempting or cancelling a job, `timeout`, docker stop): Lightning
            # finishes the current batch and stops; without this save the run would go back to
            # its last periodic checkpoint. The process then exits with status 0.
            trainer.save_checkpoint(self.path)
            log.warning("SIGTERM at step %d: training state saved to %s; run again with "
                        "resume=auto to continue", trainer.global_step, self.path)

    def _restore(self) -> None:
        if self._signum is not None:
            signal.signal(self._signum, self._previous)
            self._signum = None

    def _on_signal(self, signum: int, frame) -> None:
        trainer, previous = self._trainer, self._previous
        name = signal.Signals(signum).name
        # Every rank gets the signal (SLURM signals all tasks) and saving is collective.
        trainer.save_checkpoint(self.path)
        log.warning("%s at step %d: saved %s", name, trainer.global_step, self.path)
        self._restore()
        if callable(previous):  # submitit or Lightning requeues the job
            previous(signum, frame)
            return
        raise SystemExit(f"{name}: training state saved to {self.path} at step "
                         f"{trainer.global_step}; run again with resume=auto to continue")
