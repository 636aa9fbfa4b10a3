"""Receptive field of a stack of convolutions along one axis."""

from __future__ import annotations

from collections.abc import Sequence


def receptive_field(kernels: Sequence[int], strides: Sequence[int],
                    dilations: Sequence[int] | None = None) -> int:
    """Input samples that one output position of the stack depends on:
    ``1 + sum_l (k_l - 1) * d_l * prod_{j<l} s_j``."""
    dilations = dilations or [1] * len(kernels)
    field, jump = 1, 1
    for k, s, d in zip(kernels, strides, dilations, strict=True):
        field += (k - 1) * d * jump
        jump *= s
    return field
