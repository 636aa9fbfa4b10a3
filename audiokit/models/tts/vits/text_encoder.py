"""VITS's prior encoder for text: token embeddings -> transformer (relative attention,
convolutional feed-forward, post-norm) -> the mean and log-std of the prior per token."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from audiokit.models.tts.vits.relative_attention import RelativeSelfAttention


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of [B, C, N]."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class ConvFeedForward(nn.Module):
    """conv -> ReLU -> conv over time; padded frames are zeroed before each conv so they
    never leak into real ones."""

    def __init__(self, channels: int, hidden: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(channels, hidden, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(hidden, channels, kernel, padding=kernel // 2)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = self.dropout(torch.relu(self.conv1(x * mask)))
        return self.conv2(x * mask) * mask


class TextEncoder(nn.Module):
    def __init__(self, vocab_size: int, out_channels: int, hidden: int = 192,
                 ffn_hidden: int = 768, heads: int = 2, layers: int = 6, kernel: int = 3,
                 dropout: float = 0.1, window: int = 4) -> None:
        super().__init__()
        self.hidden = hidden
        self.embed = nn.Embedding(vocab_size, hidden)
        nn.init.normal_(self.embed.weight, 0.0, hidden ** -0.5)
        self.attn = nn.ModuleList(RelativeSelfAttention(hidden, heads, window, dropout) for _ in range(layers))
        self.ffn = nn.ModuleList(ConvFeedForward(hidden, ffn_hidden, kernel, dropout) for _ in range(layers))
        self.norm1 = nn.ModuleList(ChannelNorm(hidden) for _ in range(layers))
        self.norm2 = nn.ModuleList(ChannelNorm(hidden) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Conv1d(hidden, 2 * out_channels, 1)

    def forward(self, tokens: Tensor, lens: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """tokens [B, N] -> (hidden x [B, H, N], prior mean, prior log-std [B, C, N], mask [B, 1, N])."""
        mask = (torch.arange(tokens.size(1), device=tokens.device)[None] < lens[:, None])
        mask = mask[:, None].to(self.embed.weight.dtype)
        x = (self.embed(tokens) * math.sqrt(self.hidden)).transpose(1, 2) * mask
        for attn, ffn, n1, n2 in zip(self.attn, self.ffn, self.norm1, self.norm2, strict=True):
            x = n1(x + self.dropout(attn(x, mask)))
            x = n2(x + self.dropout(ffn(x, mask)))
        x = x * mask
        mean, log_std = (self.proj(x) * mask).chunk(2, dim=1)
        return x, mean, log_std, mask
