"""Simulation of training data: speech mixtures, additive noise and room reverberation."""

from __future__ import annotations

from audiokit.data.simulation.mixtures import (
    DynamicMixingDataset,
    MixturePlan,
    make_mixture_dir,
    mix_sources,
    plan_mixtures,
    write_mixture_dir,
)
from audiokit.data.simulation.noise import (
    add_noise,
    babble,
    brown,
    coloured_noise,
    make_noise,
    pink,
    white,
)
from audiokit.data.simulation.reverb import RoomImpulse, measure_rt60, random_room, reverberate

__all__ = [
    "DynamicMixingDataset",
    "MixturePlan",
    "RoomImpulse",
    "add_noise",
    "babble",
    "brown",
    "coloured_noise",
    "make_mixture_dir",
    "make_noise",
    "measure_rt60",
    "mix_sources",
    "pink",
    "plan_mixtures",
    "random_room",
    "reverberate",
    "white",
    "write_mixture_dir",
]
