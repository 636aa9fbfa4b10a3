"""Layer norms for ``[B, C, T]`` feature maps: global (gLN), channel-wise (cLN), cumulative."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _AffineNorm(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels, 1))
        self.bias = nn.Parameter(torch.zeros(channels, 1))

    def _affine(self, x: Tensor, mean: Tensor, var: Tensor) -> Tensor:
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


class GlobalLayerNorm(_AffineNorm):
    """gLN (Luo & Mesgarani 2019): statistics over channels *and* time; non-causal."""

    def forward(self, x: Tensor) -> Tensor:
        # One group = all channels and frames: torch's fused kernel, faster than the
        # written-out mean/var on CPU (these norms are a large share of Conv-TasNet's step).
        return F.group_norm(x, 1, self.weight.view(-1), self.bias.view(-1), self.eps)


class ChannelLayerNorm(_AffineNorm):
    """cLN: statistics over channels of each frame only; causal."""

    def forward(self, x: Tensor) -> Tensor:
        y = F.layer_norm(x.transpose(1, 2), (x.shape[1],), self.weight.view(-1),
                         self.bias.view(-1), self.eps)
        return y.transpose(1, 2)


class CumulativeLayerNorm(_AffineNorm):
    """Cumulative LN (the causal norm of the Conv-TasNet paper): statistics over channels and
    all frames up to the current one."""

    def forward(self, x: Tensor) -> Tensor:
        channels, frames = x.shape[1], x.shape[2]
        count = torch.arange(1, frames + 1, device=x.device, dtype=x.dtype) * channels
        mean = x.sum(dim=1, keepdim=True).cumsum(dim=-1) / count
        power = x.pow(2).sum(dim=1, keepdim=True).cumsum(dim=-1) / count
        return self._affine(x, mean, (power - mean.pow(2)).clamp_min(0.0))


NORMS: dict[str, type[_AffineNorm]] = {
    "gLN": GlobalLayerNorm,
    "cLN": ChannelLayerNorm,
    "cumLN": CumulativeLayerNorm,
}
CAUSAL_NORMS = ("cLN", "cumLN")


def make_norm(kind: str, channels: int) -> nn.Module:
    """Build a norm by name: ``"gLN"``, ``"cLN"`` or ``"cumLN"``."""
    if kind not in NORMS:
        raise ValueError(f"unknown norm {kind!r}; choose one of {sorted(NORMS)}")
    return NORMS[kind](channels)
