"""SincNet: a learnable band-pass sinc filterbank on the raw waveform (Ravanelli & Bengio, 2018)."""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.frontends.framing import ms_to_samples, num_frames, zero_padding


def hz_to_mel(hz: float) -> float:
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def mel_to_hz(mel: Tensor) -> Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


class SincNet(nn.Module):
    """Band-pass sinc filters with two learnable cutoffs each, then |.|, max-pool to the hop, log1p.

    Filter c passes [low_c, high_c] with low_c = min_low_hz + |low_hz_[c]| and
    high_c = low_c + min_band_hz + |band_hz_[c]| (both capped at Nyquist); cutoffs start
    mel-spaced over the whole band. The convolution has stride 1 so the max-pool sees the full
    envelope of even the highest band. Output frame i covers samples
    [i * hop, i * hop + kernel_size + hop - 1), so feat_lens = 1 + (lens - that span) // hop.
    """

    def __init__(
        self,
        sample_rate: int,
        out_channels: int = 80,
        kernel_ms: float = 25.0,
        hop_ms: float = 10.0,
        min_low_hz: float = 50.0,
        min_band_hz: float = 50.0,
    ) -> None:
        super().__init__()
        kernel_size = ms_to_samples(sample_rate, kernel_ms)
        # Odd length: the filter is symmetric around a centre tap, i.e. linear phase.
        self.kernel_size = kernel_size if kernel_size % 2 else kernel_size + 1
        self.hop_length = ms_to_samples(sample_rate, hop_ms)
        self.receptive_field = self.kernel_size + self.hop_length - 1
        self.sample_rate = sample_rate
        self.min_low_hz = min_low_hz
        self.min_band_hz = min_band_hz
        self.output_dim = out_channels

        top = sample_rate / 2 - min_low_hz - min_band_hz
        edges = mel_to_hz(torch.linspace(0.0, hz_to_mel(top), out_channels + 1))
        self.low_hz_ = nn.Parameter(edges[:-1].clone())
        self.band_hz_ = nn.Parameter(edges.diff())

        # Derived from the config, so kept out of the state dict.
        taps = torch.arange(self.kernel_size) - (self.kernel_size - 1) / 2
        self.register_buffer("taps", taps, persistent=False)
        window = torch.hamming_window(self.kernel_size, periodic=False)
        self.register_buffer("window", window, persistent=False)

    def cutoffs(self) -> tuple[Tensor, Tensor]:
        """(low, high) cutoff frequencies in Hz, each [out_channels]."""
        nyquist = self.sample_rate / 2
        low = (self.min_low_hz + self.low_hz_.abs()).clamp(max=nyquist - self.min_band_hz)
        high = (low + self.min_band_hz + self.band_hz_.abs()).clamp(max=nyquist)
        return low, high

    def filters(self) -> Tensor:
        """Windowed band-pass impulse responses [out_channels, kernel_size]."""
        low, high = self.cutoffs()
        f1 = (low / self.sample_rate).unsqueeze(1)  # cycles per sample
        f2 = (high / self.sample_rate).unsqueeze(1)
        # Ideal band-pass = low-pass at f2 minus low-pass at f1; unit gain in the pass band.
        low_pass_high = 2 * f2 * torch.sinc(2 * f2 * self.taps)
        low_pass_low = 2 * f1 * torch.sinc(2 * f1 * self.taps)
        return (low_pass_high - low_pass_low) * self.window

    def forward(self, wav: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        feat_lens = num_frames(lens, self.receptive_field, self.hop_length)
        max_frames = int(feat_lens.max())
        if max_frames == 0:
            return wav.new_zeros(wav.size(0), 0, self.output_dim), feat_lens
        # Keep only the samples that complete frames need, so padding never adds frames.
        wav = wav[:, : (max_frames - 1) * self.hop_length + self.receptive_field]
        filtered = F.conv1d(wav.unsqueeze(1), self.filters().unsqueeze(1))
        envelope = F.max_pool1d(filtered.abs(), self.hop_length)  # [B, C, max_frames]
        feats = torch.log1p(envelope).transpose(1, 2)
        return zero_padding(feats, feat_lens), feat_lens
