"""Vocal tract length perturbation (VTLP; Jaitly & Hinton, 2013) of batched power spectra.

A speaker's vocal tract length scales their formant frequencies by roughly a constant factor.
Warping each training utterance's frequency axis by a random factor near 1 (before the mel
filterbank) simulates voices the training set lacks, without changing tempo as speed
perturbation does.
"""

import torch
from torch import Tensor

# Frequencies up to BOUNDARY * min(1, alpha) * Nyquist scale by alpha; above, the warp is linear
# onto Nyquist, so the warped axis still spans [0, Nyquist] (the paper's piecewise-linear map).
BOUNDARY = 0.85


def vtlp(spec: Tensor, factors: Tensor) -> Tensor:
    """Warp power spectra ``spec`` [B, F, T] (F bins from 0 Hz to Nyquist) by ``factors`` [B].

    Output bin ``g`` holds the linearly interpolated power at source bin ``g / alpha`` (below the
    boundary), so ``alpha > 1`` moves energy (formants) up in frequency and ``alpha < 1`` down.
    """
    num_bins = spec.size(1)
    nyquist = num_bins - 1
    alpha = factors.to(spec.device, torch.float32)[:, None]                  # [B, 1]
    g = torch.arange(num_bins, device=spec.device, dtype=torch.float32)[None, :]
    edge = BOUNDARY * nyquist * alpha.clamp(max=1.0)                          # warped boundary
    below = g / alpha
    above = edge / alpha + (g - edge) * (nyquist - edge / alpha) / (nyquist - edge)
    source = torch.where(g <= edge, below, above).clamp(0, nyquist)          # [B, F]
    low = source.floor().long().clamp(max=nyquist - 1)
    frac = (source - low)[:, :, None].to(spec.dtype)

    def bins_at(index: Tensor) -> Tensor:
        return spec.gather(1, index[:, :, None].expand(-1, -1, spec.size(2)))

    return bins_at(low) * (1 - frac) + bins_at(low + 1) * frac
