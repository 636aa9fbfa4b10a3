"""SEANet convolutional encoder and decoder (SoundStream / EnCodec).

Encoder: conv(k7) -> per stride s: residual units then a strided conv (kernel 2s) that doubles
the channels -> optional LSTM (with a skip) -> conv(k7) to ``dimension``. The decoder mirrors it
with transposed convs. ELU activations and weight norm throughout.

Lengths are exact: the encoder maps ``T`` samples (a multiple of ``hop = prod(ratios)``) to
``T / hop`` frames, the decoder maps ``F`` frames to ``F * hop`` samples (the padding each
strided conv needs is split between the two ends, so the model is non-causal).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class PaddedConv1d(nn.Module):
    """Weight-normed Conv1d padded so ``stride`` divides the output exactly: out = in / stride."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1,
                 dilation: int = 1) -> None:
        super().__init__()
        self.conv = weight_norm(nn.Conv1d(in_ch, out_ch, kernel_size, stride, dilation=dilation))
        self.pad = dilation * (kernel_size - 1) + 1 - stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = self.pad - self.pad // 2
        return self.conv(F.pad(x, (left, self.pad - left), mode="reflect"
                               if x.shape[-1] > self.pad else "constant"))


class TrimmedConvTranspose1d(nn.Module):
    """Weight-normed ConvTranspose1d trimmed to exactly ``in * stride`` samples."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.conv = weight_norm(nn.ConvTranspose1d(in_ch, out_ch, kernel_size, stride))
        self.trim = kernel_size - stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        left = self.trim - self.trim // 2
        return y[..., left: y.shape[-1] - (self.trim - left)]


class ResidualUnit(nn.Module):
    """ELU -> dilated conv (k3, to channels/2) -> ELU -> conv (k1, back) + identity skip."""

    def __init__(self, channels: int, dilation: int, kernel_size: int = 3) -> None:
        super().__init__()
        hidden = channels // 2
        self.block = nn.Sequential(
            nn.ELU(), PaddedConv1d(channels, hidden, kernel_size, dilation=dilation),
            nn.ELU(), PaddedConv1d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class SkipLSTM(nn.Module):
    """LSTM over frames with a residual connection ([B, C, F] -> [B, C, F])."""

    def __init__(self, channels: int, num_layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(channels, channels, num_layers, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(x.transpose(1, 2))
        return x + y.transpose(1, 2)


class SEANetEncoder(nn.Module):
    """Waveform [B, 1, T] -> latent [B, dimension, T / hop] (``ratios`` in encoding order)."""

    def __init__(self, channels: int = 32, dimension: int = 128,
                 ratios: tuple[int, ...] = (2, 4, 5, 8), residual_dilations: tuple[int, ...] = (1, 3),
                 lstm_layers: int = 0, kernel_size: int = 7) -> None:
        super().__init__()
        layers: list[nn.Module] = [PaddedConv1d(1, channels, kernel_size)]
        ch = channels
        for ratio in ratios:
            layers += [ResidualUnit(ch, d) for d in residual_dilations]
            layers += [nn.ELU(), PaddedConv1d(ch, ch * 2, 2 * ratio, stride=ratio)]
            ch *= 2
        if lstm_layers:
            layers.append(SkipLSTM(ch, lstm_layers))
        layers += [nn.ELU(), PaddedConv1d(ch, dimension, kernel_size)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SEANetDecoder(nn.Module):
    """Latent [B, dimension, F] -> waveform [B, 1, F * hop] (``ratios`` in encoding order)."""

    def __init__(self, channels: int = 32, dimension: int = 128,
                 ratios: tuple[int, ...] = (2, 4, 5, 8), residual_dilations: tuple[int, ...] = (1, 3),
                 lstm_layers: int = 0, kernel_size: int = 7) -> None:
        super().__init__()
        ch = channels * 2 ** len(ratios)
        layers: list[nn.Module] = [PaddedConv1d(dimension, ch, kernel_size)]
        if lstm_layers:
            layers.append(SkipLSTM(ch, lstm_layers))
        for ratio in reversed(ratios):
            layers += [nn.ELU(), TrimmedConvTranspose1d(ch, ch // 2, 2 * ratio, ratio)]
            ch //= 2
            layers += [ResidualUnit(ch, d) for d in residual_dilations]
        layers += [nn.ELU(), PaddedConv1d(ch, 1, kernel_size)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
