"""SepFormer (Subakan et al. 2021): learned filterbank + dual-path intra/inter-chunk transformers."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from audiokit.models.separation.dual_path import DualPathMaskHead, chunk
from audiokit.models.separation.filterbank import FilterbankDecoder, FilterbankEncoder


def sinusoidal_encoding(length: int, dim: int, like: Tensor) -> Tensor:
    """``[length, dim]`` sine/cosine positions (Vaswani et al. 2017), any length."""
    pos = torch.arange(length, device=like.device, dtype=torch.float32)[:, None]
    freq = torch.exp(
        torch.arange(0, dim, 2, device=like.device, dtype=torch.float32) * (-math.log(1e4) / dim)
    )
    enc = torch.zeros(length, dim, device=like.device)
    enc[:, 0::2] = torch.sin(pos * freq)
    enc[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return enc.to(like.dtype)


class TransformerStack(nn.Module):
    """Positional encoding + ``num_layers`` pre-norm transformer layers + final LayerNorm."""

    def __init__(
        self, d_model: int, num_heads: int, ffn_dim: int, num_layers: int, dropout: float
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model, num_heads, ffn_dim, dropout, batch_first=True, norm_first=True
            )
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: Tensor) -> Tensor:
        x = x + sinusoidal_encoding(x.shape[1], x.shape[2], x)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


class SepFormerBlock(nn.Module):
    """Intra-chunk transformer, then inter-chunk transformer; each norm'd, each with a skip."""

    def __init__(
        self, d_model: int, num_heads: int, ffn_dim: int, num_layers: int, dropout: float
    ) -> None:
        super().__init__()
        self.intra = TransformerStack(d_model, num_heads, ffn_dim, num_layers, dropout)
        self.inter = TransformerStack(d_model, num_heads, ffn_dim, num_layers, dropout)
        self.intra_norm = nn.GroupNorm(1, d_model, eps=1e-8)
        self.inter_norm = nn.GroupNorm(1, d_model, eps=1e-8)

    def forward(self, x: Tensor) -> Tensor:
        batch, channels, size, num = x.shape
        intra = self.intra(x.permute(0, 3, 2, 1).reshape(batch * num, size, channels))
        intra = intra.reshape(batch, num, size, channels).permute(0, 3, 2, 1).contiguous()
        x = x + self.intra_norm(intra)
        inter = self.inter(x.permute(0, 2, 3, 1).reshape(batch * size, num, channels))
        inter = inter.reshape(batch, size, num, channels).permute(0, 3, 1, 2).contiguous()
        return x + self.inter_norm(inter)


class SepFormer(nn.Module):
    """SepFormer: ``mixture [B, T] -> sources [B, num_sources, T]``.

    Args:
        num_sources: sources to estimate (1 = enhancement).
        num_filters: N, encoder filters.  kernel_size: L.  stride: encoder hop.
        d_model: transformer width (a 1x1 conv maps N to it).  num_heads, ffn_dim: per layer.
        num_layers: transformer layers in each intra and each inter stack (paper k = 8).
        num_repeats: dual-path blocks (paper N = 2).  chunk_size: frames per chunk (hop half).
        dropout: transformer dropout.  mask_activation: ``"relu"`` (paper) or ``"sigmoid"``.
    """

    def __init__(
        self,
        num_sources: int = 2,
        num_filters: int = 256,
        kernel_size: int = 16,
        stride: int = 8,
        d_model: int = 256,
        num_heads: int = 8,
        ffn_dim: int = 1024,
        num_layers: int = 8,
        num_repeats: int = 2,
        chunk_size: int = 250,
        dropout: float = 0.0,
        mask_activation: str = "relu",
    ) -> None:
        super().__init__()
        self.num_sources = num_sources
        self.chunk_size = chunk_size
        self.encoder = FilterbankEncoder(num_filters, kernel_size, stride)
        self.input_norm = nn.GroupNorm(1, num_filters, eps=1e-8)
        self.bottleneck = nn.Conv1d(num_filters, d_model, 1)
        self.blocks = nn.Sequential(
            *(
                SepFormerBlock(d_model, num_heads, ffn_dim, num_layers, dropout)
                for _ in range(num_repeats)
            )
        )
        self.head = DualPathMaskHead(d_model, num_filters, num_sources, mask_activation)
        self.decoder = FilterbankDecoder(num_filters, kernel_size, stride)

    def forward(self, mixture: Tensor) -> Tensor:
        feats = self.encoder(mixture)  # [B, N, frames]
        x = self.bottleneck(self.input_norm(feats))
        x = self.blocks(chunk(x, self.chunk_size))  # [B, d_model, K, S]
        masks = self.head(x, feats.shape[-1])  # [B, S, N, frames]
        return self.decoder(feats.unsqueeze(1) * masks, mixture.shape[-1])
