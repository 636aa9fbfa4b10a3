"""Multi-resolution STFT loss: spectral convergence + log-magnitude L1 (Yamamoto et al. 2020)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from audiokit.losses.separation import length_mask

# The windows a config may name (by torch function name).
WINDOWS = {"hann_window": torch.hann_window, "hamming_window": torch.hamming_window,
           "blackman_window": torch.blackman_window, "bartlett_window": torch.bartlett_window}


class MultiResolutionSTFTLoss(nn.Module):
    """``sc_weight * SC + mag_weight * logmag``, each averaged over the resolutions.

    Per resolution and per signal (Parallel WaveGAN, eqs. 2-4):
    SC = || |S| - |S_hat| ||_F / || |S| ||_F and logmag = mean | log|S| - log|S_hat| |.
    Both are computed per signal and then averaged over signals, so that a padded batch
    with ``lengths`` equals the mean over its items cropped to their lengths.

    Defaults: windows of 240/480/960 samples (15/30/60 ms at 16 kHz, 30/60/120 ms at 8 kHz)
    with hop = window / 4, which suits 8-16 kHz speech.

    Inputs ``est``, ``ref``: [B, T] or [B, S, T]; ``lengths`` [B] in samples. The padding is
    zeroed before the STFT, frames are centred with *zero* padding (not reflection), and only
    frames 0 .. length // hop are kept: those frames see exactly the same samples as the cropped
    signal would, so the masking is exact. Magnitudes are clamped at sqrt(eps) so the log and
    the square root keep finite gradients on silence.
    """

    def __init__(self, fft_sizes: Sequence[int] = (256, 512, 1024),
                 hop_sizes: Sequence[int] = (60, 120, 240),
                 win_lengths: Sequence[int] = (240, 480, 960), window: str = "hann_window",
                 sc_weight: float = 1.0, mag_weight: float = 1.0, eps: float = 1e-7) -> None:
        super().__init__()
        if not len(fft_sizes) == len(hop_sizes) == len(win_lengths) > 0:
            raise ValueError("fft_sizes, hop_sizes and win_lengths must be non-empty and of "
                             f"equal length, got {fft_sizes}, {hop_sizes}, {win_lengths}")
        for n_fft, win in zip(fft_sizes, win_lengths, strict=True):
            if win > n_fft:
                raise ValueError(f"win_length {win} exceeds fft_size {n_fft}")
        self.resolutions = list(zip(fft_sizes, hop_sizes, win_lengths, strict=True))
        self.sc_weight, self.mag_weight, self.eps = sc_weight, mag_weight, eps
        if window not in WINDOWS:  # a model file sets this: never getattr(torch, <any name>)
            raise ValueError(f"window {window!r}: use one of {', '.join(WINDOWS)}")
        window_fn = WINDOWS[window]
        for i, win in enumerate(win_lengths):  # buffers follow .to(device)
            self.register_buffer(f"window_{i}", window_fn(win), persistent=False)

    def _magnitude(self, x: Tensor, n_fft: int, hop: int, win: int, window: Tensor) -> Tensor:
        spec = torch.stft(x, n_fft, hop_length=hop, win_length=win, window=window,
                          center=True, pad_mode="constant", return_complex=True)
        return (spec.real.pow(2) + spec.imag.pow(2)).clamp(min=self.eps).sqrt()  # [N, F, K]

    def forward(self, est: Tensor, ref: Tensor, lengths: Tensor | None = None) -> Tensor:
        if est.shape != ref.shape or est.dim() not in (2, 3):
            raise ValueError(f"est {tuple(est.shape)} and ref {tuple(ref.shape)} must both be "
                             "[B, T] or [B, S, T]")
        num_samples = est.shape[-1]
        if lengths is not None:
            lengths = lengths.to(est.device)
            mask = length_mask(lengths, num_samples, est.dim())
            est, ref = est * mask, ref * mask
            if est.dim() == 3:
                lengths = lengths.repeat_interleave(est.shape[1])
        est, ref = est.reshape(-1, num_samples), ref.reshape(-1, num_samples)
        if est.dtype in (torch.float16, torch.bfloat16):  # the STFT and log need float32
            est, ref = est.float(), ref.float()
        sc_total = mag_total = est.new_zeros(())
        for i, (n_fft, hop, win) in enumerate(self.resolutions):
            window = getattr(self, f"window_{i}").to(est.dtype)
            est_mag = self._magnitude(est, n_fft, hop, win, window)
            ref_mag = self._magnitude(ref, n_fft, hop, win, window)
            num_frames = est_mag.shape[-1]
            if lengths is None:
                frame_mask = est_mag.new_ones(est_mag.shape[0], 1, num_frames)
            else:  # frame k is centred on sample k * hop; keep those centred inside the signal
                valid = torch.div(lengths, hop, rounding_mode="floor") + 1
                frame_mask = length_mask(valid, num_frames, 3).to(est_mag.dtype)
            diff = (ref_mag - est_mag) * frame_mask
            # vector_norm's backward is 0 (not NaN) at a zero difference, e.g. identical inputs
            norm = torch.linalg.vector_norm
            sc = norm(diff, dim=(1, 2)) / norm(ref_mag * frame_mask, dim=(1, 2))
            log_diff = (ref_mag.log() - est_mag.log()).abs() * frame_mask
            mag = log_diff.sum((1, 2)) / (frame_mask.sum((1, 2)) * est_mag.shape[1])
            sc_total = sc_total + sc.mean()
            mag_total = mag_total + mag.mean()
        num_res = len(self.resolutions)
        return (self.sc_weight * sc_total + self.mag_weight * mag_total) / num_res
