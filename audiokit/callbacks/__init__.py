"""Lightning callbacks, added to a run through the ``callbacks`` config group."""

from audiokit.callbacks.ema import EMA
from audiokit.callbacks.exact_resume import ExactResume
from audiokit.callbacks.model_size import ParameterSummary
from audiokit.callbacks.preemption import CheckpointOnPreemption
from audiokit.callbacks.schedule_to_max_time import ScheduleToMaxTime

__all__ = ["EMA", "CheckpointOnPreemption", "ExactResume", "ParameterSummary",
           "ScheduleToMaxTime"]
