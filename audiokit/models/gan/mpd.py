"""HiFi-GAN's multi-period discriminator (Kong et al. 2020, sec. 2.2)."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

from audiokit.models.gan.conv_stack import conv_stack, gather
from audiokit.models.gan.receptive_field import receptive_field


class PeriodDiscriminator(nn.Module):
    """Waveform [B, T] reshaped to [B, 1, T / p, p] (reflect-padded to a multiple of p);
    2-D convs with (k, 1) kernels look at every p-th sample, the p phases independently."""

    def __init__(self, period: int, channels: Sequence[int] = (32, 128, 512, 1024, 1024),
                 kernel_size: int = 5, stride: int = 3, use_spectral_norm: bool = False) -> None:
        super().__init__()
        self.period = period
        norm = spectral_norm if use_spectral_norm else weight_norm
        layers, c_in = [], 1
        for i, c in enumerate(channels):
            s = stride if i < len(channels) - 1 else 1  # the last conv keeps the resolution
            layers.append(norm(nn.Conv2d(c_in, c, (kernel_size, 1), (s, 1),
                                         padding=(kernel_size // 2, 0))))
            c_in = c
        self.convs = nn.ModuleList(layers)
        self.post = norm(nn.Conv2d(c_in, 1, (3, 1), 1, padding=(1, 0)))
        n = len(channels)
        self.kernels = [kernel_size] * n + [3]
        self.strides = [stride] * (n - 1) + [1, 1]

    def receptive_field(self) -> int:
        """Receptive field in samples of the original waveform (rows are p samples apart)."""
        return (receptive_field(self.kernels, self.strides) - 1) * self.period + 1

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        b, t = x.shape
        if t % self.period:
            pad = self.period - t % self.period
            x = F.pad(x.unsqueeze(1), (0, pad), mode="reflect" if pad < t else "constant").squeeze(1)
            t += pad
        x = x.view(b, 1, t // self.period, self.period)
        return conv_stack(self.convs, self.post, x, 0.1)


class MultiPeriodDiscriminator(nn.Module):
    """One :class:`PeriodDiscriminator` per period (HiFi-GAN: 2, 3, 5, 7, 11)."""

    def __init__(self, periods: Sequence[int] = (2, 3, 5, 7, 11),
                 channels: Sequence[int] = (32, 128, 512, 1024, 1024), kernel_size: int = 5,
                 stride: int = 3) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            PeriodDiscriminator(p, channels, kernel_size, stride) for p in periods)

    def forward(self, x: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        return gather([d(x) for d in self.discriminators])
