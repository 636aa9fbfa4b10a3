"""Audio Spectrogram Transformer (Gong et al. 2021), trained from scratch, padding-aware."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.utils.masking import lengths_to_mask


def _num_patches(length: Tensor, patch: int, stride: int) -> Tensor:
    """Patches needed to cover ``length`` frames when the last patch may run into zero padding."""
    return torch.div((length - patch + stride - 1).clamp(min=0), stride, rounding_mode="floor") + 1


class ASTClassifier(nn.Module):
    """Transformer over (possibly overlapping) spectrogram patches, classified from a CLS token.

    Every utterance is zero-padded to whole patches, so a patch that overlaps the end of an
    utterance sees zeros there whether or not the batch is padded further; patches beyond that
    are masked out of attention. Hence batch padding never changes an utterance's logits.

    Args:
        input_dim: feature bins per frame (F), e.g. 80 mel bins.
        num_classes: number of output classes.
        patch_size: (frequency, time) size of a patch in bins x frames.
        patch_stride: (frequency, time) hop between patches; smaller than the size = overlap.
        d_model: token width.
        num_layers: transformer encoder layers.
        num_heads: attention heads.
        ffn_dim: hidden width of each feed-forward block.
        dropout: dropout inside the encoder layers.
        max_frames: longest input (in frames) the positional embedding covers.
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        patch_size: Sequence[int] = (16, 16),
        patch_stride: Sequence[int] = (16, 16),
        d_model: int = 192,
        num_layers: int = 4,
        num_heads: int = 4,
        ffn_dim: int = 768,
        dropout: float = 0.1,
        max_frames: int = 256,
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.patch_size = tuple(patch_size)
        self.patch_stride = tuple(patch_stride)
        self.max_frames = max_frames
        (patch_f, patch_t), (stride_f, stride_t) = self.patch_size, self.patch_stride
        self.freq_patches = int(_num_patches(torch.tensor(input_dim), patch_f, stride_f))
        max_time_patches = int(_num_patches(torch.tensor(max_frames), patch_t, stride_t))

        self.patch_embed = nn.Conv2d(1, d_model, self.patch_size, self.patch_stride)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
        # Laid out like the patch-embedding output [1, D, freq, time] so the time axis can be sliced.
        self.pos_embed = nn.Parameter(torch.zeros(1, d_model, self.freq_patches, max_time_patches))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

        layer = nn.TransformerEncoderLayer(
            d_model,
            num_heads,
            ffn_dim,
            dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        # Nested tensors do not support pre-norm layers; disabling avoids a warning, not a speedup.
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, feats: Tensor, lens: Tensor) -> Tensor:
        """``feats`` [B, T, F] (frames ``t >= lens[b]`` are padding), ``lens`` [B] -> [B, C]."""
        if feats.shape[-1] != self.input_dim:
            raise ValueError(f"expected {self.input_dim} feature bins, got {feats.shape[-1]}")
        num_frames = int(lens.max())
        if num_frames > self.max_frames:
            raise ValueError(
                f"input has {num_frames} frames but the model was built with "
                f"max_frames={self.max_frames}; raise max_frames in the model config"
            )
        # Extra batch padding beyond the longest utterance carries no information.
        feats = feats[:, :num_frames]
        frame_mask = lengths_to_mask(lens, num_frames)
        x = feats.masked_fill(~frame_mask.unsqueeze(-1), 0.0).transpose(1, 2).unsqueeze(1)

        (patch_f, patch_t), (stride_f, stride_t) = self.patch_size, self.patch_stride
        patch_lens = _num_patches(lens, patch_t, stride_t)
        time_patches = int(patch_lens.max())
        pad_f = (self.freq_patches - 1) * stride_f + patch_f - self.input_dim
        pad_t = (time_patches - 1) * stride_t + patch_t - num_frames
        x = F.pad(x, (0, pad_t, 0, pad_f))  # [B, 1, F', T'] covered by whole patches

        x = self.patch_embed(x) + self.pos_embed[..., :time_patches]  # [B, D, freq, time]
        x = x.flatten(2).transpose(1, 2)  # [B, freq * time, D], frequency-major
        # Token f * time + t is padding iff t >= patch_lens[b], for every frequency row f.
        padding = ~lengths_to_mask(patch_lens, time_patches).repeat(1, self.freq_patches)

        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        padding = F.pad(padding, (1, 0), value=False)  # the CLS token is always attended to
        x = self.encoder(x, src_key_padding_mask=padding)
        return self.head(self.norm(x[:, 0]))
