"""HiFi-GAN generator (Kong et al. 2020): transposed-conv upsampling, each stage followed by
a multi-receptive-field fusion (MRF) of dilated residual blocks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

LRELU_SLOPE = 0.1


def _same(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


class ResBlock1(nn.Module):
    """V1/V2 block: per dilation, lrelu -> dilated conv -> lrelu -> conv, plus the input."""

    def __init__(self, channels: int, kernel: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(weight_norm(nn.Conv1d(channels, channels, kernel, 1,
                                                          _same(kernel, d), d)) for d in dilations)
        self.convs2 = nn.ModuleList(weight_norm(nn.Conv1d(channels, channels, kernel, 1,
                                                          _same(kernel))) for _ in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class ResBlock2(nn.Module):
    """V3 block: per dilation, lrelu -> dilated conv, plus the input."""

    def __init__(self, channels: int, kernel: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(weight_norm(nn.Conv1d(channels, channels, kernel, 1,
                                                         _same(kernel, d), d)) for d in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for c in self.convs:
            x = x + c(F.leaky_relu(x, LRELU_SLOPE))
        return x


class HiFiGANGenerator(nn.Module):
    """Features ``[B, frames, in_channels]`` -> waveform ``[B, frames * prod(upsample_rates)]``.

    ``prod(upsample_rates)`` must equal the hop of the features (the task checks it against
    its frontend). Published V1: 512 channels, rates (8, 8, 2, 2), kernels (16, 16, 4, 4),
    resblock 1 with kernels (3, 7, 11) and dilations ((1, 3, 5),) * 3; V3: 256 channels,
    rates (8, 8, 4), kernels (16, 16, 8), resblock 2, kernels (3, 5, 7), dilations
    ((1, 2), (2, 6), (3, 12)). Upsampling kernels are twice the rates.
    """

    def __init__(self, in_channels: int = 80, channels: int = 512,
                 upsample_rates: Sequence[int] = (8, 8, 2, 2),
                 upsample_kernels: Sequence[int] | None = None, resblock: int = 1,
                 resblock_kernels: Sequence[int] = (3, 7, 11),
                 resblock_dilations: Sequence[Sequence[int]] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
                 ) -> None:
        super().__init__()
        kernels = upsample_kernels or [2 * r for r in upsample_rates]
        if any(k < r for k, r in zip(kernels, upsample_rates, strict=True)):
            raise ValueError(f"upsample kernels {kernels} must be >= the rates {upsample_rates}")
        if resblock not in (1, 2):
            raise ValueError(f"resblock must be 1 or 2, got {resblock}")
        self.hop_length = int(torch.tensor(list(upsample_rates)).prod())
        self.conv_pre = weight_norm(nn.Conv1d(in_channels, channels, 7, 1, 3))
        block = ResBlock1 if resblock == 1 else ResBlock2
        self.ups, self.blocks = nn.ModuleList(), nn.ModuleList()
        c = channels
        for r, k in zip(upsample_rates, kernels, strict=True):
            # padding and output_padding make the output exactly r times longer for any k >= r
            pad = (k - r + 1) // 2
            self.ups.append(weight_norm(nn.ConvTranspose1d(c, c // 2, k, r, pad,
                                                           output_padding=2 * pad - (k - r))))
            c //= 2
            self.blocks.append(nn.ModuleList(block(c, rk, d) for rk, d in
                                             zip(resblock_kernels, resblock_dilations, strict=True)))
        self.conv_post = weight_norm(nn.Conv1d(c, 1, 7, 1, 3))
        self.num_kernels = len(resblock_kernels)

    def forward(self, feats: Tensor) -> Tensor:
        x = self.conv_pre(feats.transpose(1, 2))
        for up, blocks in zip(self.ups, self.blocks, strict=True):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            x = sum(b(x) for b in blocks) / self.num_kernels
        x = self.conv_post(F.leaky_relu(x))  # default slope 0.01 here, as published
        return torch.tanh(x).squeeze(1)

    def remove_weight_norm(self) -> None:
        """Fold the weight-norm parametrisations into plain weights (faster inference)."""
        for m in self.modules():
            if parametrize.is_parametrized(m, "weight"):
                parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
