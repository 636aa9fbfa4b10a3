"""Optimisation helpers: learning-rate schedules stepped once per optimizer step."""
