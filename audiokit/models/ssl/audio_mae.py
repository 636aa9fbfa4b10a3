"""Audio-MAE (Huang et al. 2022): mask most log-mel patches, encode the visible ones with the
AST encoder, reconstruct the masked ones with a light decoder."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.models.classification.ast import ASTEncoder
from audiokit.models.ssl.masking import PatchMasker


def normalise_patches(patches: Tensor, eps: float = 1e-6) -> Tensor:
    """Each patch [..., P] to zero mean and unit variance over its own values (MAE's
    ``norm_pix_loss``): the target is the patch's shape, not its loudness."""
    mean = patches.mean(-1, keepdim=True)
    var = patches.var(-1, keepdim=True, unbiased=False)
    return (patches - mean) / (var + eps).sqrt()


def masked_patch_mse(pred: Tensor, target: Tensor, masked: Tensor) -> Tensor:
    """Mean squared error per patch [B, N, P], averaged over the ``masked`` [B, N] patches only:
    visible and padding patches add nothing."""
    per_patch = (pred - target).pow(2).mean(-1)
    weight = masked.to(per_patch.dtype)
    return (per_patch * weight).sum() / weight.sum().clamp(min=1.0)


class AudioMAE(nn.Module):
    """Masked autoencoder over log-mel patches.

    The encoder is an :class:`~audiokit.models.classification.ast.ASTEncoder` (same patches,
    positions and blocks as the AST classifier, which ``model.pretrained`` initialises from
    it) that runs on the visible patches only, plus its CLS token. The decoder gets the
    encoded visible tokens back in place, a learned mask token everywhere else, its own
    positional embedding, a few narrow blocks, and predicts each patch's normalised values.

    Args:
        input_dim: feature bins per frame.
        patch_size, patch_stride, d_model, num_layers, num_heads, ffn_dim, dropout,
            max_frames: the encoder, as in :class:`ASTEncoder`.
        mask_ratio: share of each utterance's patches hidden from the encoder.
        mask_mode: ``random``, ``time``, ``frequency`` or ``time_frequency``
            (:class:`~audiokit.models.ssl.masking.PatchMasker`).
        decoder_dim, decoder_layers, decoder_heads, decoder_ffn_dim: the decoder.
        norm_targets: reconstruct per-patch normalised values (else the raw log-mel).
    """

    def __init__(
        self,
        input_dim: int,
        patch_size: Sequence[int] = (16, 16),
        patch_stride: Sequence[int] = (16, 16),
        d_model: int = 192,
        num_layers: int = 4,
        num_heads: int = 4,
        ffn_dim: int = 768,
        dropout: float = 0.0,
        max_frames: int = 256,
        mask_ratio: float = 0.8,
        mask_mode: str = "random",
        decoder_dim: int = 128,
        decoder_layers: int = 2,
        decoder_heads: int = 4,
        decoder_ffn_dim: int = 512,
        norm_targets: bool = True,
    ) -> None:
        super().__init__()
        if tuple(patch_size) != tuple(patch_stride):
            # overlapping patches would let the decoder copy a masked patch's visible neighbours
            raise ValueError("Audio-MAE needs patch_stride == patch_size (no overlap), got "
                             f"{tuple(patch_size)} and {tuple(patch_stride)}")
        self.encoder = ASTEncoder(input_dim, patch_size, patch_stride, d_model, num_layers,
                                  num_heads, ffn_dim, dropout, max_frames)
        self.masker = PatchMasker(mask_ratio, mask_mode)
        self.norm_targets = norm_targets
        freq, time = self.encoder.freq_patches, self.encoder.max_time_patches
        self.decoder_embed = nn.Linear(d_model, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.decoder_pos = nn.Parameter(torch.zeros(1, decoder_dim, freq, time))
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.decoder_pos, std=0.02)
        layer = nn.TransformerEncoderLayer(decoder_dim, decoder_heads, decoder_ffn_dim, dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.decoder = nn.TransformerEncoder(layer, decoder_layers, enable_nested_tensor=False)
        self.decoder_norm = nn.LayerNorm(decoder_dim)
        self.predict = nn.Linear(decoder_dim, patch_size[0] * patch_size[1])

    def targets(self, x: Tensor) -> Tensor:
        """Padded input [B, 1, F', T'] -> its patches [B, N, P] in token order."""
        size = self.encoder.patch_size
        patches = F.unfold(x, size, stride=size).transpose(1, 2)
        return normalise_patches(patches) if self.norm_targets else patches

    def encode_visible(self, tokens: Tensor, keep: Tensor, keep_padding: Tensor) -> Tensor:
        """The encoder over the kept tokens only -> [B, K, D] (CLS output dropped)."""
        visible = tokens.gather(1, keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
        return self.encoder.encode(visible, keep_padding)[:, 1:]

    def decode(self, encoded: Tensor, keep: Tensor, keep_padding: Tensor, padding: Tensor,
               time_patches: int) -> Tensor:
        """Encoded visible tokens [B, K, D] -> predicted patches [B, N, P]."""
        batch, total = padding.shape
        x = self.decoder_embed(encoded)
        full = self.mask_token.expand(batch, total, -1).clone()
        # filler slots (keep_padding) are written back to a spare column and dropped
        index = keep.masked_fill(keep_padding, total)
        full = torch.cat([full, full[:, :1]], dim=1)
        full = full.scatter(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]), x)[:, :total]
        pos = self.decoder_pos[..., :time_patches].flatten(2).transpose(1, 2)
        x = self.decoder(full + pos, src_key_padding_mask=padding)
        return self.predict(self.decoder_norm(x))

    def forward(self, feats: Tensor, lens: Tensor,
                generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """``feats`` [B, T, F], ``lens`` [B] -> {"loss", "pred" [B, N, P], "target" [B, N, P],
        "masked" [B, N] (True = hidden from the encoder, valid)}."""
        x, patch_lens = self.encoder.patch_input(feats, lens)
        tokens, padding = self.encoder.embed(x, patch_lens)
        keep, keep_padding, masked = self.masker(padding, self.encoder.freq_patches, generator)
        encoded = self.encode_visible(tokens, keep, keep_padding)
        pred = self.decode(encoded, keep, keep_padding, padding, int(patch_lens.max()))
        target = self.targets(x)
        return {"loss": masked_patch_mse(pred, target, masked), "pred": pred, "target": target,
                "masked": masked}
