"""Several discriminators judged together (e.g. HiFi-GAN's MPD + MSD)."""

from __future__ import annotations

from torch import Tensor, nn


class CombinedDiscriminator(nn.Module):
    """``discriminators``: name -> module (built from YAML). The outputs are concatenated in
    name order: one logits tensor and one feature list per sub-discriminator."""

    def __init__(self, discriminators: dict[str, nn.Module]) -> None:
        super().__init__()
        if not discriminators:
            raise ValueError("CombinedDiscriminator needs at least one discriminator")
        self.discriminators = nn.ModuleDict(dict(sorted(discriminators.items())))

    def forward(self, x: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        logits, feats = [], []
        for d in self.discriminators.values():
            y, f = d(x)
            logits += y
            feats += f
        return logits, feats
