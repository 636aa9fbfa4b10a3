"""Spectral reconstruction losses of GAN vocoders and codecs, computed in float32.

- :class:`MelL1Loss`: mean |log mel(x) - log mel(y)|, averaged over resolutions
  (HiFi-GAN uses one: its window and hop, 80 mels).
- :class:`MultiScaleSpectralLoss` (EnCodec eq. 1, from DDSP): over windows w,
  mean |S_w(x) - S_w(y)| + alpha * sqrt(mean (log S_w(x) - log S_w(y))^2), S_w a mel
  magnitude spectrogram with window w and hop w / 4, averaged over the windows.

Both take waveforms ``[B, T]`` (estimate, reference) and return a scalar.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchaudio.transforms import MelSpectrogram


def _mel(sample_rate: int, n_fft: int, hop: int, n_mels: int, power: float) -> MelSpectrogram:
    return MelSpectrogram(sample_rate=sample_rate, n_fft=n_fft, win_length=n_fft, hop_length=hop,
                          n_mels=min(n_mels, n_fft // 2 + 1), power=power, center=True,
                          pad_mode="reflect", norm="slaney", mel_scale="slaney",
                          window_fn=torch.hann_window)


class MelL1Loss(nn.Module):
    """L1 between log(mel power + eps) spectrograms, one per ``(n_fft, hop, n_mels)``."""

    def __init__(self, sample_rate: int, n_ffts: Sequence[int] = (1024,),
                 hop_lengths: Sequence[int] | None = None, n_mels: Sequence[int] | int = 80,
                 eps: float = 1e-5) -> None:
        super().__init__()
        hops = hop_lengths or [n // 4 for n in n_ffts]
        mels = [n_mels] * len(n_ffts) if isinstance(n_mels, int) else n_mels
        self.mels = nn.ModuleList(_mel(sample_rate, n, h, m, 1.0)
                                  for n, h, m in zip(n_ffts, hops, mels, strict=True))
        self.eps = eps

    def forward(self, est: Tensor, ref: Tensor) -> Tensor:
        with torch.autocast(est.device.type, enabled=False):
            est, ref = est.float(), ref.float()
            total = est.new_zeros(())
            for mel in self.mels:
                total = total + (torch.log(mel(est) + self.eps)
                                 - torch.log(mel(ref) + self.eps)).abs().mean()
            return total / len(self.mels)


class MultiScaleSpectralLoss(nn.Module):
    """EnCodec's reconstruction loss in the frequency domain (see the module docstring)."""

    def __init__(self, sample_rate: int, n_ffts: Sequence[int] = (64, 128, 256, 512, 1024),
                 n_mels: int = 64, alpha: float = 1.0, eps: float = 1e-5) -> None:
        super().__init__()
        self.mels = nn.ModuleList(_mel(sample_rate, n, n // 4, n_mels, 1.0) for n in n_ffts)
        self.alpha, self.eps = alpha, eps

    def forward(self, est: Tensor, ref: Tensor) -> Tensor:
        with torch.autocast(est.device.type, enabled=False):
            est, ref = est.float(), ref.float()
            total = est.new_zeros(())
            for mel in self.mels:
                s_e, s_r = mel(est), mel(ref)
                log_diff = torch.log(s_e + self.eps) - torch.log(s_r + self.eps)
                total = total + (s_e - s_r).abs().mean() + self.alpha * log_diff.pow(2).mean().sqrt()
            return total / len(self.mels)


class MelDistance(MelL1Loss):
    """The mel distance reported by validation and scoring: :class:`MelL1Loss` with one
    64 ms window (next power of two), hop = window / 4, 80 mels, at any sample rate."""

    def __init__(self, sample_rate: int) -> None:
        n_fft = 1 << max(0, int(0.064 * sample_rate - 1)).bit_length()
        super().__init__(sample_rate, (n_fft,), (n_fft // 4,), 80)
