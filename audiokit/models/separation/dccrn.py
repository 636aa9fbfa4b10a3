"""DCCRN (Hu et al. 2020): complex conv encoder/decoder around an LSTM on the STFT, with a
complex ratio mask."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Complex feature maps are stored as real tensors [B, 2C, F, T]: real channels first, then imag.


def _split(x: Tensor) -> tuple[Tensor, Tensor]:
    return x.chunk(2, dim=1)


class ComplexConv2d(nn.Module):
    """(W_r + iW_i) * (X_r + iX_i) with two real convs; channel counts are complex (halved)."""

    def __init__(self, in_channels: int, out_channels: int, transposed: bool = False,
                 **conv_kwargs: object) -> None:
        super().__init__()
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.real = conv(in_channels, out_channels, **conv_kwargs)
        self.imag = conv(in_channels, out_channels, **conv_kwargs)

    def forward(self, x: Tensor) -> Tensor:
        xr, xi = _split(x)
        return torch.cat([self.real(xr) - self.imag(xi), self.real(xi) + self.imag(xr)], dim=1)


class ComplexLSTM(nn.Module):
    """Complex LSTM (DCCRN-CL): per layer, real/imag LSTMs applied like a complex product."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        sizes = [input_size] + [hidden_size] * num_layers
        self.real = nn.ModuleList(nn.LSTM(i, hidden_size, batch_first=True) for i in sizes[:-1])
        self.imag = nn.ModuleList(nn.LSTM(i, hidden_size, batch_first=True) for i in sizes[:-1])
        self.proj_real = nn.Linear(hidden_size, input_size)
        self.proj_imag = nn.Linear(hidden_size, input_size)

    def forward(self, xr: Tensor, xi: Tensor) -> tuple[Tensor, Tensor]:
        for real, imag in zip(self.real, self.imag, strict=True):
            rr, ii, ri, ir = real(xr)[0], imag(xi)[0], real(xi)[0], imag(xr)[0]
            xr, xi = rr - ii, ri + ir
        return self.proj_real(xr), self.proj_imag(xi)


class DCCRN(nn.Module):
    """DCCRN: ``mixture [B, T] -> sources [B, num_sources, T]`` (1 source = enhancement).

    The STFT (without its DC bin) is encoded by complex 2-D convs that halve frequency, an LSTM
    runs over time on the flattened bottleneck, and a complex transposed-conv decoder with
    skip connections predicts one complex ratio mask per source. Convs pad time on the left
    only, so the network is causal in frames (latency: one STFT window).

    Args:
        num_sources: sources to estimate.
        n_fft, win_length, hop_length: STFT (Hann window); paper: 512 / 400 / 100 at 16 kHz.
        channels: encoder channel counts (real + imag together, so each must be even).
        kernel_size: (freq, time) conv kernel; stride is (2, 1).
        rnn_type: ``"complex"`` (DCCRN-CL) or ``"real"`` (DCCRN-R style LSTM).
        rnn_layers: LSTM layers.  rnn_units: LSTM units (split between real/imag when complex).
        mask_type: ``"E"`` (tanh-bounded magnitude, mask phase added) or ``"C"`` (plain complex
            multiplication with an unbounded mask).
    """

    def __init__(
        self,
        num_sources: int = 1,
        n_fft: int = 512,
        win_length: int = 400,
        hop_length: int = 100,
        channels: Sequence[int] = (32, 64, 128, 256, 256, 256),
        kernel_size: Sequence[int] = (5, 2),
        rnn_type: str = "complex",
        rnn_layers: int = 2,
        rnn_units: int = 256,
        mask_type: str = "E",
    ) -> None:
        super().__init__()
        if any(c % 2 for c in channels):
            raise ValueError(f"channels count real + imag parts and must be even, got {channels}")
        if rnn_type not in ("complex", "real"):
            raise ValueError(f"rnn_type must be 'complex' or 'real', got {rnn_type!r}")
        if mask_type not in ("E", "C"):
            raise ValueError(f"mask_type must be 'E' or 'C', got {mask_type!r}")
        self.num_sources = num_sources
        self.n_fft, self.win_length, self.hop_length = n_fft, win_length, hop_length
        self.rnn_type, self.mask_type = rnn_type, mask_type
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)
        kf, kt = kernel_size
        self.time_pad = kt - 1
        conv = {"kernel_size": (kf, kt), "stride": (2, 1), "padding": (kf // 2, 0)}
        complex_ch = [1] + [c // 2 for c in channels]
        self.encoder = nn.ModuleList(
            nn.Sequential(
                ComplexConv2d(cin, cout, **conv), nn.BatchNorm2d(2 * cout), nn.PReLU()
            )
            for cin, cout in zip(complex_ch[:-1], complex_ch[1:], strict=True)
        )
        bins = n_fft // 2  # DC bin dropped so the bins halve evenly
        for _ in channels:
            bins = (bins - 1) // 2 + 1
        self.bottleneck_bins = bins
        feat = complex_ch[-1] * bins  # per real/imag part
        if rnn_type == "complex":
            self.rnn: nn.Module = ComplexLSTM(feat, rnn_units // 2, rnn_layers)
        else:
            self.rnn = nn.LSTM(2 * feat, rnn_units, rnn_layers, batch_first=True)
            self.rnn_proj = nn.Linear(rnn_units, 2 * feat)
        # Decoder input = previous output + encoder skip (complex channel concat).
        outs = complex_ch[-2:0:-1] + [num_sources]
        ins = [complex_ch[-1]] + outs[:-1]
        skips = complex_ch[:0:-1]
        self.decoder = nn.ModuleList()
        for i, (cin, skip, cout) in enumerate(zip(ins, skips, outs, strict=True)):
            layer: list[nn.Module] = [
                ComplexConv2d(cin + skip, cout, transposed=True, output_padding=(1, 0), **conv)
            ]
            if i < len(outs) - 1:
                layer += [nn.BatchNorm2d(2 * cout), nn.PReLU()]
            self.decoder.append(nn.Sequential(*layer))

    def _stft(self, wav: Tensor) -> Tensor:
        # Constant (not reflect) centre padding: any length, even shorter than the window.
        return torch.stft(
            wav, self.n_fft, self.hop_length, self.win_length, self.window, center=True,
            pad_mode="constant", return_complex=True,
        )

    def forward(self, mixture: Tensor) -> Tensor:
        batch, length = mixture.shape
        spec = self._stft(mixture)[:, 1:]  # [B, F, T'] without DC
        x = torch.stack([spec.real, spec.imag], dim=1)  # [B, 2, F, T']
        skips, sizes = [], []
        for layer in self.encoder:
            sizes.append(x.shape[-2])
            x = layer(F.pad(x, (self.time_pad, 0)))  # time padded on the left only: causal
            skips.append(x)
        _, ch, bins, frames = x.shape
        xr, xi = _split(x)
        xr = xr.permute(0, 3, 1, 2).reshape(batch, frames, -1)
        xi = xi.permute(0, 3, 1, 2).reshape(batch, frames, -1)
        if self.rnn_type == "complex":
            xr, xi = self.rnn(xr, xi)
        else:
            y = self.rnn_proj(self.rnn(torch.cat([xr, xi], dim=-1))[0])
            xr, xi = y.chunk(2, dim=-1)
        x = torch.cat(
            [z.reshape(batch, frames, ch // 2, bins).permute(0, 2, 3, 1) for z in (xr, xi)], dim=1
        )
        for layer, skip, size in zip(self.decoder, skips[::-1], sizes[::-1], strict=True):
            (xr, xi), (sr, si) = _split(x), _split(skip)
            x = layer(torch.cat([xr, sr, xi, si], dim=1))
            # Back to the encoder's bin count; dropping the last frame keeps it causal.
            x = x[..., :size, :frames]
        mr, mi = _split(x)  # [B, S, F, T']
        mask = torch.complex(mr, mi)
        if self.mask_type == "E":
            # Magnitude bounded by tanh, phase rotated by the mask's phase.
            mag = torch.sqrt(mr.pow(2) + mi.pow(2) + 1e-8)
            mask = torch.tanh(mag) * mask / mag
        est = mask * spec.unsqueeze(1)
        est = F.pad(est, (0, 0, 1, 0))  # DC bin back as zero
        wav = torch.istft(
            est.reshape(batch * self.num_sources, *est.shape[-2:]), self.n_fft, self.hop_length,
            self.win_length, self.window, center=True, length=length,
        )
        return wav.reshape(batch, self.num_sources, length)
