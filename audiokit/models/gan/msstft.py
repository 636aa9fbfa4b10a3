"""EnCodec's multi-scale STFT discriminator (Défossez et al. 2022, sec. 3.4)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from audiokit.models.gan.conv_stack import conv_stack, gather


class STFTDiscriminator(nn.Module):
    """2-D convs on the complex STFT (real and imaginary parts as two channels), time x
    frequency. Dilations (1, 2, 4) grow along time, stride 2 shrinks frequency."""

    def __init__(self, n_fft: int, hop_length: int, win_length: int, filters: int = 32,
                 dilations: Sequence[int] = (1, 2, 4), kernel: tuple[int, int] = (3, 9)) -> None:
        super().__init__()
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)
        pad_f = kernel[1] // 2
        layers = [weight_norm(nn.Conv2d(2, filters, kernel, padding=(kernel[0] // 2, pad_f)))]
        for d in dilations:
            layers.append(weight_norm(nn.Conv2d(filters, filters, kernel, stride=(1, 2),
                                                dilation=(d, 1),
                                                padding=(d * (kernel[0] // 2), pad_f))))
        layers.append(weight_norm(nn.Conv2d(filters, filters, (3, 3), padding=1)))
        self.convs = nn.ModuleList(layers)
        self.post = weight_norm(nn.Conv2d(filters, 1, (3, 3), padding=1))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        with torch.autocast(x.device.type, enabled=False):  # the STFT in float32
            spec = torch.stft(x.float(), self.n_fft, self.hop_length, self.win_length,
                              self.window, center=False, normalized=True, return_complex=True)
        z = torch.stack([spec.real, spec.imag], 1).transpose(2, 3)  # [B, 2, frames, freq]
        return conv_stack(self.convs, self.post, z, 0.2)


class MultiScaleSTFTDiscriminator(nn.Module):
    """One :class:`STFTDiscriminator` per (n_fft, hop, window). EnCodec at 24 kHz uses windows
    of 2048/1024/512/256/128 samples with hop = window / 4."""

    def __init__(self, n_ffts: Sequence[int] = (1024, 512, 256, 128),
                 hop_lengths: Sequence[int] | None = None,
                 win_lengths: Sequence[int] | None = None, filters: int = 32) -> None:
        super().__init__()
        hops = hop_lengths or [n // 4 for n in n_ffts]
        wins = win_lengths or list(n_ffts)
        self.discriminators = nn.ModuleList(
            STFTDiscriminator(n, h, w, filters) for n, h, w in zip(n_ffts, hops, wins, strict=True))

    def forward(self, x: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        return gather([d(x) for d in self.discriminators])
