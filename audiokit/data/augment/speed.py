"""Kaldi/ESPnet-style speed perturbation: resampling changes tempo and pitch together."""

from collections.abc import Sequence
from math import gcd

import torch
import torchaudio.functional as AF


class SpeedPerturb:
    """Play the utterance ``factor`` times faster; the output has about ``T / factor`` samples.

    Args:
        factors: speed factors to pick from uniformly (1.0 leaves the utterance untouched).
        prob: probability of applying the augmentation at all.
        generator: private RNG for reproducible runs; ``None`` uses the global torch RNG, which
            DataLoader workers seed differently (a shared generator would repeat across workers).
    """

    def __init__(
        self,
        factors: Sequence[float] = (0.9, 1.0, 1.1),
        prob: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        self.factors = tuple(float(f) for f in factors)
        if not self.factors or min(self.factors) <= 0:
            raise ValueError(f"speed factors must be positive, got {self.factors}")
        self.prob = prob
        self.generator = generator

    def __call__(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        if torch.rand((), generator=self.generator) >= self.prob:
            return wav
        index = int(torch.randint(len(self.factors), (), generator=self.generator))
        return change_speed(wav, sample_rate, self.factors[index])


def change_speed(wav: torch.Tensor, sample_rate: int, factor: float) -> torch.Tensor:
    """``wav`` played ``factor`` times faster (about ``T / factor`` samples)."""
    if factor == 1.0:
        return wav
    # Pretending the signal was recorded at sr * factor and resampling it back to sr
    # scales every frequency by ``factor`` and the duration by ``1 / factor``.
    orig_freq = round(sample_rate * factor)
    common = gcd(orig_freq, sample_rate)
    return AF.resample(wav, orig_freq // common, sample_rate // common)
