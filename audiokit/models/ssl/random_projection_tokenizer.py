"""BEATs' first-iteration tokenizer (Chen et al. 2022): a frozen random projection of each
fbank patch and a frozen random codebook; a patch's label is the code nearest by cosine."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.models.ssl.beats import fbank_patches


class RandomProjectionTokenizer(nn.Module):
    """patches [B, N, P] -> labels [B, N]: ``argmax_k cos(W x, c_k)`` (the nearest of the
    L2-normalised codes to the L2-normalised projection, as BEATs writes it).

    Nothing here is trained. The projection and codebook are drawn from ``seed`` alone (a
    generator of their own, so the global RNG neither changes them nor is changed) and saved
    as buffers, so an experiment's labels can be recomputed from its ``model.pt``.

    Args:
        patch_size: side of the square fbank patches (the encoder's ``input_patch_size``).
        dim: width of the random projection.
        codebook_size: number of labels.
        seed: draws the projection and the codebook.
    """

    def __init__(self, patch_size: int = 16, dim: int = 64, codebook_size: int = 256,
                 seed: int = 0) -> None:
        super().__init__()
        self.patch_size, self.codebook_size = patch_size, codebook_size
        generator = torch.Generator().manual_seed(seed)
        patch_dim = patch_size * patch_size
        # Xavier-scaled Gaussian projection; the codes are directions, so their scale is moot
        self.register_buffer("projection", torch.randn(patch_dim, dim, generator=generator)
                             * (2.0 / (patch_dim + dim)) ** 0.5)
        self.register_buffer("codebook", torch.randn(codebook_size, dim, generator=generator))

    def forward(self, patches: Tensor) -> Tensor:
        """patches [B, N, P] -> the nearest code's index [B, N]."""
        projected = F.normalize(patches @ self.projection, dim=-1)
        return (projected @ F.normalize(self.codebook, dim=-1).T).argmax(-1)

    @torch.no_grad()
    def labels(self, fbank: Tensor, frames: Tensor) -> Tensor:
        """Fbank [B, frames, bins] (+ frame counts) -> a label per BEATs token [B, N]."""
        patches, _ = fbank_patches(fbank, frames, self.patch_size)
        return self(patches)
