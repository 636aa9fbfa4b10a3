"""VITS's posterior encoder q(z | spectrogram): 1x1 conv -> WaveNet stack -> mean and
log-std per frame; z is drawn with the reparameterisation trick."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from audiokit.models.tts.vits.wavenet import WaveNetStack


class PosteriorEncoder(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, hidden: int = 192, kernel: int = 5,
                 dilation_rate: int = 1, layers: int = 16, cond_channels: int = 0) -> None:
        super().__init__()
        self.pre = nn.Conv1d(in_channels, hidden, 1)
        self.net = WaveNetStack(hidden, kernel, dilation_rate, layers, cond_channels)
        self.proj = nn.Conv1d(hidden, 2 * out_channels, 1)

    def forward(self, spec: Tensor, mask: Tensor, g: Tensor | None = None
                ) -> tuple[Tensor, Tensor, Tensor]:
        """``spec`` [B, F, T], ``mask`` [B, 1, T] -> (z, mean, log-std), each [B, C, T]."""
        h = self.net(self.pre(spec) * mask, mask, g)
        mean, log_std = (self.proj(h) * mask).chunk(2, dim=1)
        z = (mean + torch.randn_like(mean) * log_std.exp()) * mask
        return z, mean, log_std
