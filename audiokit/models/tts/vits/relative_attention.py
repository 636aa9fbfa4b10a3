"""Multi-head self-attention with windowed relative position embeddings (Shaw et al. 2018),
the text encoder's attention in VITS: keys and values get a learned vector per offset
j - i, clipped to [-window, window], so the encoder generalises to texts longer than any
seen in training (no absolute positions)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class RelativeSelfAttention(nn.Module):
    def __init__(self, channels: int, heads: int, window: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be a multiple of heads ({heads})")
        self.heads, self.head_dim, self.window = heads, channels // heads, window
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.out = nn.Conv1d(channels, channels, 1)
        self.dropout = nn.Dropout(dropout)
        scale = self.head_dim ** -0.5
        # shared across heads, as in VITS; one row per clipped offset -window..window
        self.rel_k = nn.Parameter(torch.randn(2 * window + 1, self.head_dim) * scale)
        self.rel_v = nn.Parameter(torch.randn(2 * window + 1, self.head_dim) * scale)

    def _offsets(self, n: int, device) -> Tensor:
        pos = torch.arange(n, device=device)
        return (pos[None, :] - pos[:, None]).clamp(-self.window, self.window) + self.window

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """``x`` [B, C, N], ``mask`` [B, 1, N] (1 = real token) -> [B, C, N]."""
        b, c, n = x.shape
        q, k, v = self.qkv(x).view(b, 3, self.heads, self.head_dim, n).transpose(-1, -2).unbind(1)
        offsets = self._offsets(n, x.device)
        rel_k, rel_v = self.rel_k[offsets], self.rel_v[offsets]       # [N, N, d]
        q = q / math.sqrt(self.head_dim)
        scores = q @ k.transpose(-1, -2) + torch.einsum("bhid,ijd->bhij", q, rel_k)
        # padded keys get no weight; padded queries still see real keys (no all -inf rows)
        scores = scores.masked_fill(mask[:, None] == 0, torch.finfo(scores.dtype).min)
        weights = self.dropout(scores.softmax(-1))
        y = weights @ v + torch.einsum("bhij,ijd->bhid", weights, rel_v)   # [B, H, N, d]
        return self.out(y.transpose(-1, -2).reshape(b, c, n))
