"""Guided attention loss (Tachibana et al. 2018, DCTTS): attention far from the diagonal costs.

For a decoder step t of T and an input token n of N, the weight is

    W[t, n] = 1 - exp(-(n / N - t / T)^2 / (2 sigma^2))

and the loss is the mean of ``W * A`` over the valid (t, n) cells of each utterance (N and T
are that utterance's own lengths), averaged over all valid cells of the batch. sigma = 0.4 as
in ESPnet's Tacotron 2 recipes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def guided_attention_weights(dec_lens: Tensor, enc_lens: Tensor, sigma: float = 0.4) -> Tensor:
    """W [B, T_max, N_max], zero outside each utterance's T x N block."""
    t_max, n_max = int(dec_lens.max()), int(enc_lens.max())
    t = torch.arange(t_max, device=dec_lens.device, dtype=torch.float32)[None, :, None]
    n = torch.arange(n_max, device=dec_lens.device, dtype=torch.float32)[None, None, :]
    dec = dec_lens.float()[:, None, None]
    enc = enc_lens.float()[:, None, None]
    w = 1.0 - torch.exp(-((n / enc - t / dec) ** 2) / (2 * sigma ** 2))
    valid = (t < dec) & (n < enc)
    return w * valid


class GuidedAttentionLoss(nn.Module):
    def __init__(self, sigma: float = 0.4) -> None:
        super().__init__()
        self.sigma = sigma

    def forward(self, attention: Tensor, dec_lens: Tensor, enc_lens: Tensor) -> Tensor:
        """``attention`` [B, T_dec, N_enc] (rows: decoder steps)."""
        w = guided_attention_weights(dec_lens, enc_lens, self.sigma)
        w = w[:, : attention.size(1), : attention.size(2)]
        cells = (dec_lens.float() * enc_lens.float()).sum().clamp(min=1)
        return (w * attention.float()).sum() / cells
