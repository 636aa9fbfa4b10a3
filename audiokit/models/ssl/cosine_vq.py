"""Vector quantiser on the unit sphere (BEATs' tokenizer codebook): nearest code by cosine,
straight-through gradients, codebook learned by exponential moving averages."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CosineVectorQuantiser(nn.Module):
    """vectors [M, C] -> (quantised [M, C], indices [M], commitment loss).

    Inputs and codes are L2-normalised; a vector's code is the one of largest cosine. The
    output is the code itself in value, with the straight-through gradient of the normalised
    input (``z + (q - z).detach()``), so what follows the quantiser trains what precedes it.
    The commitment loss ``|z - sg(q)|^2`` pulls the inputs towards their codes.

    In training mode each batch moves the codebook: per code, an exponential moving average
    (``decay``) of the sum of the normalised vectors assigned to it, renormalised (the mean
    direction of its cluster). The first training batch initialises the codes from its own
    vectors (drawn at random), which keeps most codes in use from the start. ``usage`` counts
    the assignments seen in training (a moving average too), to report how many codes live.
    """

    def __init__(self, codebook_size: int = 256, dim: int = 32, decay: float = 0.99) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.register_buffer("codebook", F.normalize(torch.randn(codebook_size, dim), dim=-1))
        self.register_buffer("ema_sum", self.codebook.clone())
        self.register_buffer("usage", torch.zeros(codebook_size))
        self.register_buffer("initialised", torch.tensor(False))

    def nearest(self, z: Tensor) -> Tensor:
        """Normalised vectors [M, C] -> the index of the code of largest cosine [M]."""
        return (z @ self.codebook.T).argmax(-1)

    def forward(self, vectors: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        z = F.normalize(vectors, dim=-1)
        if self.training and not bool(self.initialised) and len(z):
            self._initialise(z.detach())
        indices = self.nearest(z.detach())
        quantised = self.codebook[indices]
        commit = F.mse_loss(z, quantised.detach()) if len(z) else z.sum() * 0.0
        if self.training and len(z):
            self._ema_update(z.detach(), indices)
        return z + (quantised - z).detach(), indices, commit

    @torch.no_grad()
    def _initialise(self, z: Tensor) -> None:
        picks = torch.randint(len(z), (len(self.codebook),), device=z.device)
        self.codebook.copy_(z[picks])
        self.ema_sum.copy_(z[picks])
        self.initialised.fill_(True)

    @torch.no_grad()
    def _ema_update(self, z: Tensor, indices: Tensor) -> None:
        onehot = F.one_hot(indices, len(self.codebook)).to(z.dtype)  # [M, K]
        counts, sums = onehot.sum(0), onehot.T @ z
        self.usage.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        used = counts > 0  # a code with no vectors this batch keeps its direction
        self.ema_sum[used] = self.decay * self.ema_sum[used] + (1 - self.decay) * sums[used]
        self.codebook.copy_(F.normalize(self.ema_sum, dim=-1))
