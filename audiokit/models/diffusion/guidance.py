"""Classifier-free guidance (Ho & Salimans 2022): one denoiser trained with and without the
condition (the condition dropped to a null caption at random), and at sampling the two
predictions extrapolated away from the unconditional one.

The rule is linear, so it may be applied to an eps or a v prediction alike: given x_t, eps
and v are affine functions of each other (:meth:`~.schedule.NoiseSchedule.split`), and guiding
one is guiding the other.
"""

from __future__ import annotations

from torch import Tensor


def classifier_free_guidance(cond: Tensor, uncond: Tensor, scale: float) -> Tensor:
    """``uncond + scale * (cond - uncond)``: scale 0 is unconditional, 1 conditional, > 1
    guided."""
    return uncond + scale * (cond - uncond)
