"""A differentiable, PESQ-correlated loss: PESQ's loudness disturbance without its time alignment.

PESQ (ITU-T P.862) compares loudness spectra on a Bark scale and maps two disturbances to a
score, ``MOS = 4.5 - 0.1 * D_sym - 0.0309 * D_asym``. This follows the same steps (as PMSQE,
Martin-Donas et al. 2018, does) with differentiable pieces:

1. both signals scaled to unit RMS over their valid samples (PESQ's level alignment; it also
   makes the term scale-invariant, as SI-SNR is);
2. power spectra (Hann window 32 ms, hop 16 ms), summed into 1-Bark bands (Bark = 6 asinh(f/600));
3. Zwicker loudness ``(1 + P / P0)^0.23 - 1`` (``P0``: a hearing-threshold stand-in, so silence
   is 0);
4. symmetric disturbance ``|L_est - L_ref|`` less PESQ's masking dead zone
   (0.25 * the smaller loudness); the asymmetric one weights it by PESQ's factor
   ``((P_est + P0) / (P_ref + P0))^1.2``, zero below 3 and capped at 12, so added energy
   (noise, leakage) costs more than missing energy;
5. per frame the RMS over bands, then the mean over valid frames.

The value is ``0.1 * D_sym + 0.0309 * D_asym``: 0 for identical signals and larger as PESQ
falls. It skips PESQ's delay search (separation outputs are sample-aligned) and its psychoacoustic
tables, so it ranks degradations like PESQ (a test checks the correlation on real speech) rather
than reproducing its scores.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from audiokit.losses.separation import length_mask

ZWICKER_POWER = 0.23       # PESQ's loudness exponent
SYM_WEIGHT, ASYM_WEIGHT = 0.1, 0.0309  # PESQ's disturbance weights in its MOS formula


def bark_bands(n_fft: int, sample_rate: int) -> Tensor:
    """``[bins, bands]`` 0/1 matrix that sums FFT bins into 1-Bark bands (empty bands dropped)."""
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    bark = 6 * torch.asinh(freqs / 600)
    index = bark.floor().long()
    matrix = torch.zeros(len(freqs), int(index.max()) + 1)
    matrix[torch.arange(len(freqs)), index] = 1.0
    return matrix[:, matrix.sum(0) > 0]


class PerceptualLoss(nn.Module):
    """``forward(est, ref, lengths=None)``: ``[B, T]`` or ``[B, S, T]`` -> ``[B]`` (the mean over
    sources), or its batch mean with ``reduction="mean"``. ``lengths`` [B] in samples."""

    def __init__(self, sample_rate: int = 8000, threshold: float = 1e-3,
                 reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in ("mean", "none"):
            raise ValueError(f"unknown reduction {reduction!r}; expected mean or none")
        self.n_fft = 2 ** math.ceil(math.log2(0.032 * sample_rate))
        self.hop = self.n_fft // 2
        self.threshold, self.reduction = threshold, reduction
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        self.register_buffer("bands", bark_bands(self.n_fft, sample_rate), persistent=False)

    def _band_power(self, x: Tensor) -> Tensor:
        # float32 even under bf16 autocast: loudness differences of quiet bands need it
        with torch.autocast(x.device.type, enabled=False):
            spec = torch.stft(x, self.n_fft, self.hop, window=self.window, center=True,
                              pad_mode="constant", return_complex=True)
            power = spec.real.pow(2) + spec.imag.pow(2)             # [N, F, K]
            return torch.einsum("nfk,fb->nbk", power, self.bands)   # [N, bands, K]

    def forward(self, est: Tensor, ref: Tensor, lengths: Tensor | None = None) -> Tensor:
        if est.shape != ref.shape or est.dim() not in (2, 3):
            raise ValueError(f"est {tuple(est.shape)} and ref {tuple(ref.shape)} must both be "
                             "[B, T] or [B, S, T]")
        batch, num_samples = est.shape[0], est.shape[-1]
        est, ref = est.float(), ref.float()
        if lengths is None:
            lengths = torch.full((batch,), num_samples, device=est.device)
        lengths = lengths.to(est.device)
        mask = length_mask(lengths, num_samples, est.dim()).to(est.dtype)
        count = lengths.reshape(-1, *[1] * (est.dim() - 1)).to(est.dtype)

        def unit_rms(x: Tensor) -> Tensor:
            x = x * mask
            return x / (x.pow(2).sum(-1, keepdim=True) / count + 1e-8).sqrt()

        est = unit_rms(est).reshape(-1, num_samples)
        ref = unit_rms(ref).reshape(-1, num_samples)
        p_est, p_ref = self._band_power(est), self._band_power(ref)
        p0 = self.threshold
        l_est = (1 + p_est / p0).pow(ZWICKER_POWER) - 1
        l_ref = (1 + p_ref / p0).pow(ZWICKER_POWER) - 1
        sym = ((l_est - l_ref).abs() - 0.25 * torch.minimum(l_est, l_ref)).clamp(min=0)
        ratio = ((p_est + p0) / (p_ref + p0)).pow(1.2)
        asym = sym * torch.where(ratio < 3, torch.zeros_like(ratio), ratio.clamp(max=12))

        # frame k is centred on sample k * hop: keep those centred inside the signal
        per_signal = lengths.repeat_interleave(est.shape[0] // batch)
        valid = torch.div(per_signal, self.hop, rounding_mode="floor") + 1
        frames = length_mask(valid, p_est.shape[-1], 2).to(est.dtype)  # [N, K]

        def frame_mean(d: Tensor) -> Tensor:  # RMS over bands (tiny eps: finite grad at 0)
            per_frame = (d.pow(2).mean(1) + 1e-12).sqrt() - 1e-6
            return (per_frame * frames).sum(-1) / frames.sum(-1)

        value = SYM_WEIGHT * frame_mean(sym) + ASYM_WEIGHT * frame_mean(asym)
        value = value.reshape(batch, -1).mean(-1)
        return value.mean() if self.reduction == "mean" else value
