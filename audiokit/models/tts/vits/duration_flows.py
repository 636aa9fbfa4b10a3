"""The building blocks of VITS's stochastic duration predictor: a dilated depth-separable
conv stack (DDSConv) and the invertible layers of its two small flows, each returning
(output, log-determinant per utterance [B]).

VITS's couplings are neural spline flows; these are conditional affine couplings (scale and
shift from a DDSConv of the other half and the text condition), simpler and still exact
likelihoods. The log-scale is bounded by tanh to keep early training stable."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DDSConv(nn.Module):
    """Residual layers of depthwise dilated conv -> norm -> GELU -> 1x1 conv -> norm -> GELU."""

    def __init__(self, channels: int, kernel: int, layers: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.depthwise, self.pointwise = nn.ModuleList(), nn.ModuleList()
        self.norm1, self.norm2 = nn.ModuleList(), nn.ModuleList()
        for i in range(layers):
            d = kernel ** i
            self.depthwise.append(nn.Conv1d(channels, channels, kernel, groups=channels,
                                            dilation=d, padding=d * (kernel - 1) // 2))
            self.pointwise.append(nn.Conv1d(channels, channels, 1))
            self.norm1.append(nn.GroupNorm(1, channels))
            self.norm2.append(nn.GroupNorm(1, channels))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor, cond: Tensor | None = None) -> Tensor:
        if cond is not None:
            x = x + cond
        for dw, pw, n1, n2 in zip(self.depthwise, self.pointwise, self.norm1, self.norm2, strict=True):
            y = F.gelu(n1(dw(x * mask)))
            y = F.gelu(n2(pw(y)))
            x = x + self.dropout(y)
        return x * mask


class ElementwiseAffine(nn.Module):
    """y = m + exp(s) * x with one learned (m, s) per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.m = nn.Parameter(torch.zeros(channels, 1))
        self.log_s = nn.Parameter(torch.zeros(channels, 1))

    def forward(self, x: Tensor, mask: Tensor, cond: Tensor | None = None, reverse: bool = False):
        if reverse:
            return (x - self.m) * torch.exp(-self.log_s) * mask, None
        y = (self.m + torch.exp(self.log_s) * x) * mask
        return y, (self.log_s * mask).sum([1, 2])


class Flip(nn.Module):
    def forward(self, x: Tensor, mask: Tensor, cond: Tensor | None = None, reverse: bool = False):
        return x.flip(1), (None if reverse else x.new_zeros(x.size(0)))


class LogFlow(nn.Module):
    """y = log(x) (x > 0): durations to log-durations."""

    def forward(self, x: Tensor, mask: Tensor, reverse: bool = False):
        if reverse:
            return torch.exp(x) * mask, None
        y = torch.log(x.clamp(min=1e-5)) * mask
        return y, -y.sum([1, 2])


class ConditionalAffineCoupling(nn.Module):
    """[x0, x1] -> [x0, x1 * exp(s) + t], (s, t) from DDSConv(x0, condition)."""

    def __init__(self, channels: int, hidden: int, kernel: int, layers: int = 3) -> None:
        super().__init__()
        self.half = channels // 2
        self.pre = nn.Conv1d(self.half, hidden, 1)
        self.net = DDSConv(hidden, kernel, layers)
        self.proj = nn.Conv1d(hidden, 2 * (channels - self.half), 1)
        nn.init.zeros_(self.proj.weight)  # starts as the identity
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor, mask: Tensor, cond: Tensor | None = None, reverse: bool = False):
        x0, x1 = x[:, : self.half], x[:, self.half:]
        shift, log_s = self.proj(self.net(self.pre(x0), mask, cond)).chunk(2, dim=1)
        log_s = torch.tanh(log_s) * mask
        shift = shift * mask
        if reverse:
            x1 = (x1 - shift) * torch.exp(-log_s) * mask
            return torch.cat([x0, x1], 1), None
        x1 = (x1 * torch.exp(log_s) + shift) * mask
        return torch.cat([x0, x1], 1), log_s.sum([1, 2])
