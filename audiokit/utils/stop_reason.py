"""Why training stopped, and a line saying so when ``trainer.max_time`` cut the run short.

Recipes are bounded by ``max_epochs``/``max_steps``; ``max_time`` is only a guard. When the
guard does end a run, the model trained less than the recipe planned and its figures depend on
the machine's speed, so the run says so: in its log, in ``train_summary.json`` and, through it,
in the exp dir's RESULTS.md (``audiokit.utils.results``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import lightning.pytorch as pl


def _timer(trainer: pl.Trainer):
    from lightning.pytorch.callbacks import Timer

    return next((c for c in trainer.callbacks if isinstance(c, Timer)), None)


def reached_bound(trainer: pl.Trainer) -> bool:
    """Whether the run trained all the epochs or steps it was given."""
    max_steps = trainer.max_steps if trainer.max_steps is not None else -1
    if max_steps != -1 and trainer.global_step >= max_steps:
        return True
    max_epochs = trainer.max_epochs
    return max_epochs is not None and max_epochs != -1 and trainer.current_epoch >= max_epochs


def _budget(seconds: float) -> str:
    """Seconds as max_time's own DD:HH:MM:SS."""
    s = int(round(seconds))
    return f"{s // 86400:02d}:{s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def max_time_stop(trainer: pl.Trainer) -> str | None:
    """"stopped by max_time (00:00:10:00) at epoch 10 of 25, step 406", or None when the run
    reached its epoch/step bound or stopped for another reason (early stopping, a signal).

    Epochs count from 1: a run stopped during (or at the end of) its 11th epoch stops "at
    epoch 11". A run bounded by max_steps (fewer than its max_epochs give) names steps."""
    timer = _timer(trainer)
    if timer is None or reached_bound(trainer):
        return None
    remaining = timer.time_remaining()
    if remaining is None or remaining > 0:
        return None
    duration = getattr(timer, "_duration", None)
    budget = f" ({_budget(duration)})" if duration is not None else ""
    epoch = trainer.current_epoch  # Lightning counts the epoch it stopped in as begun
    max_steps = trainer.max_steps if trainer.max_steps is not None else -1
    bound_by_steps = max_steps != -1 and (
        trainer.max_epochs in (None, -1)
        or max_steps < trainer.max_epochs * max(trainer.num_training_batches, 1))
    if bound_by_steps:
        return (f"stopped by max_time{budget} at step {trainer.global_step} of {max_steps} "
                f"(epoch {epoch})")
    return (f"stopped by max_time{budget} at epoch {epoch} of {trainer.max_epochs}, "
            f"step {trainer.global_step}")
