"""Lightning callbacks, added to a run through the ``callbacks`` config group."""

from audiokit.callbacks.ema import EMA

__all__ = ["EMA"]
