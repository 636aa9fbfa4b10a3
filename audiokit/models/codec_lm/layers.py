"""Transformer pieces of the codec LMs: attention with a KV cache, cross-attention, layers.

A cache is a dict per layer: ``k``/``v`` hold the keys and values of every position seen so
far (``[B, H, L, Dh]``), so a new step attends to them without recomputing; ``mem_k``/``mem_v``
hold the cross-attention keys and values of the condition encoder's output, computed once.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sinusoids(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal position encodings ``[..., dim]`` of integer ``positions``."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=positions.device) / half)
    angles = positions.float()[..., None] * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class Attention(nn.Module):
    """Multi-head attention; ``mask`` [B, 1, Lq, Lk] is True where a query may look."""

    def __init__(self, d_model: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model {d_model} is not a multiple of num_heads {num_heads}")
        self.h = num_heads
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.h, d // self.h).transpose(1, 2)

    def keys_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.kv(x).chunk(2, dim=-1)
        return self._split(k), self._split(v)

    def attend(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               mask: torch.Tensor | None) -> torch.Tensor:
        q = self._split(self.q(x))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).flatten(2))


class Layer(nn.Module):
    """Pre-norm layer: self-attention (cached), optional cross-attention, feed-forward."""

    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, dropout: float,
                 cross: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.self_attn = Attention(d_model, num_heads, dropout)
        self.cross = cross
        if cross:
            self.norm_c = nn.LayerNorm(d_model)
            self.cross_attn = Attention(d_model, num_heads, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, ffn_dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(ffn_dim, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, cache: dict | None = None,
                memory: torch.Tensor | None = None, memory_mask: torch.Tensor | None = None
                ) -> torch.Tensor:
        h = self.norm1(x)
        k, v = self.self_attn.keys_values(h)
        if cache is not None:
            if "k" in cache:  # earlier positions: append the new ones
                k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        x = x + self.drop(self.self_attn.attend(h, k, v, mask))
        if self.cross:
            if cache is not None and "mem_k" in cache:
                mk, mv = cache["mem_k"], cache["mem_v"]
            else:
                mk, mv = self.cross_attn.keys_values(memory)
                if cache is not None:
                    cache["mem_k"], cache["mem_v"] = mk, mv
            x = x + self.drop(self.cross_attn.attend(self.norm_c(x), mk, mv, memory_mask))
        return x + self.drop(self.ffn(self.norm2(x)))


class TextEncoder(nn.Module):
    """Small bidirectional Transformer over condition tokens (MusicGen's T5, from scratch)."""

    def __init__(self, vocab_size: int, d_model: int, num_heads: int, ffn_dim: int,
                 num_layers: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.layers = nn.ModuleList(Layer(d_model, num_heads, ffn_dim, dropout)
                                    for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, tokens: torch.Tensor, lens: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(memory [B, L, D], memory mask [B, 1, 1, L]: True on real tokens)."""
        keep = torch.arange(tokens.shape[1], device=tokens.device)[None] < lens[:, None]
        x = self.embed(tokens) + sinusoids(torch.arange(tokens.shape[1], device=tokens.device),
                                           self.embed.embedding_dim)
        mask = keep[:, None, None, :]
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x), mask
