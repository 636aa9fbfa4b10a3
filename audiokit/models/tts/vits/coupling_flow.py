"""VITS's normalising flow between the posterior latent z and the text prior: mean-only
("volume-preserving") affine couplings, each followed by a channel flip so every channel
gets transformed. Invertible by construction; the log-determinant is 0."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from audiokit.models.tts.vits.wavenet import WaveNetStack


class MeanOnlyCoupling(nn.Module):
    """x = [x0, x1] -> [x0, x1 + m(x0)]; reverse subtracts m(x0)."""

    def __init__(self, channels: int, hidden: int, kernel: int, dilation_rate: int, layers: int,
                 cond_channels: int = 0) -> None:
        super().__init__()
        if channels % 2:
            raise ValueError(f"coupling needs an even channel count, got {channels}")
        self.half = channels // 2
        self.pre = nn.Conv1d(self.half, hidden, 1)
        self.net = WaveNetStack(hidden, kernel, dilation_rate, layers, cond_channels)
        self.post = nn.Conv1d(hidden, self.half, 1)
        # zero init: every coupling starts as the identity, so training starts stable
        nn.init.zeros_(self.post.weight)
        nn.init.zeros_(self.post.bias)

    def forward(self, x: Tensor, mask: Tensor, g: Tensor | None = None, reverse: bool = False) -> Tensor:
        x0, x1 = x.split(self.half, dim=1)
        shift = self.post(self.net(self.pre(x0) * mask, mask, g)) * mask
        x1 = (x1 - shift) * mask if reverse else (x1 + shift) * mask
        return torch.cat([x0, x1], dim=1)


class ResidualCouplingFlow(nn.Module):
    def __init__(self, channels: int, hidden: int = 192, kernel: int = 5, dilation_rate: int = 1,
                 layers: int = 4, flows: int = 4, cond_channels: int = 0) -> None:
        super().__init__()
        self.couplings = nn.ModuleList(
            MeanOnlyCoupling(channels, hidden, kernel, dilation_rate, layers, cond_channels)
            for _ in range(flows))

    def forward(self, x: Tensor, mask: Tensor, g: Tensor | None = None, reverse: bool = False) -> Tensor:
        """z -> f(z) (posterior to prior space), or the inverse with ``reverse``."""
        if not reverse:
            for coupling in self.couplings:
                x = coupling(x, mask, g).flip(1)
        else:
            for coupling in reversed(self.couplings):
                x = coupling(x.flip(1), mask, g, reverse=True)
        return x
