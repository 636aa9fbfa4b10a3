"""Length masks for padded batches, shared by every model that pools or attends over time."""

from __future__ import annotations

import torch
from torch import Tensor


def lengths_to_mask(lens: Tensor, max_len: int | None = None) -> Tensor:
    """``[B]`` lengths -> ``[B, max_len]`` bool mask, True where ``t < lens[b]`` (valid frames)."""
    if max_len is None:
        max_len = int(lens.max())
    steps = torch.arange(max_len, device=lens.device)
    return steps.unsqueeze(0) < lens.unsqueeze(1)


def masked_mean(x: Tensor, mask: Tensor, dim: int) -> Tensor:
    """Mean of ``x`` along ``dim`` over positions where ``mask`` (broadcastable to ``x``) is True.

    Padding is filled rather than multiplied away, so inf/NaN in padding cannot leak in; an
    all-padding slice gives 0 instead of NaN.
    """
    mask = mask.expand_as(x)
    total = x.masked_fill(~mask, 0.0).sum(dim)
    count = mask.sum(dim).clamp(min=1)
    return total / count
