"""Adversarial and feature-matching losses of GAN training, computed in float32.

Inputs are lists over sub-discriminators (see :mod:`audiokit.models.gan`); each loss is the
sum over sub-discriminators of a mean over the logits, as HiFi-GAN and EnCodec do.

- least squares (LSGAN, HiFi-GAN): D: mean((1 - D(x))^2) + mean(D(G(s))^2);
  G: mean((1 - D(G(s)))^2).
- hinge (EnCodec): D: mean(relu(1 - D(x))) + mean(relu(1 + D(G(s))));
  G: mean(relu(1 - D(G(s)))).
"""

from __future__ import annotations

import torch
from torch import Tensor

ADVERSARIAL = ("lsgan", "hinge")


def check_adversarial(kind: str) -> None:
    if kind not in ADVERSARIAL:
        raise ValueError(f"adversarial loss must be one of {ADVERSARIAL}, got {kind!r}")


def discriminator_loss(real: list[Tensor], fake: list[Tensor], kind: str = "lsgan") -> Tensor:
    """Loss of the discriminator: real logits pushed to 1, fake logits to 0 (lsgan) or -1."""
    check_adversarial(kind)
    total = real[0].new_zeros((), dtype=torch.float32)
    for r, f in zip(real, fake, strict=True):
        r, f = r.float(), f.float()
        if kind == "lsgan":
            total = total + ((1 - r) ** 2).mean() + (f ** 2).mean()
        else:
            total = total + torch.relu(1 - r).mean() + torch.relu(1 + f).mean()
    return total


def generator_adversarial_loss(fake: list[Tensor], kind: str = "lsgan") -> Tensor:
    """Loss of the generator: the discriminator's logits on its output pushed to 1."""
    check_adversarial(kind)
    total = fake[0].new_zeros((), dtype=torch.float32)
    for f in fake:
        f = f.float()
        total = total + (((1 - f) ** 2).mean() if kind == "lsgan" else torch.relu(1 - f).mean())
    return total


def feature_matching_loss(real: list[list[Tensor]], fake: list[list[Tensor]],
                          relative: bool = False, eps: float = 1e-8) -> Tensor:
    """Sum over sub-discriminators and layers of mean |f_real - f_fake| (HiFi-GAN); with
    ``relative`` each layer's term is divided by mean |f_real| and the sum by the number of
    layers (EnCodec). The real features are constants (no gradient to the discriminator)."""
    total = real[0][0].new_zeros((), dtype=torch.float32)
    layers = 0
    for rs, fs in zip(real, fake, strict=True):
        for r, f in zip(rs, fs, strict=True):
            r, f = r.detach().float(), f.float()
            term = (r - f).abs().mean()
            if relative:
                term = term / (r.abs().mean() + eps)
            total = total + term
            layers += 1
    return total / layers if relative else total
