"""Lightning callbacks, added to a run through the ``callbacks`` config group."""

from audiokit.callbacks.ema import EMA
from audiokit.callbacks.preemption import CheckpointOnPreemption

__all__ = ["EMA", "CheckpointOnPreemption"]
