"""Multi-head attention for ASR encoders and decoders: absolute and relative-position variants.

Both use ``F.scaled_dot_product_attention`` where they can (fused kernels on CPU and GPU).
Masks are boolean with True = attend, broadcastable to ``[B, heads, T_q, T_k]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention over ``heads`` subspaces (Vaswani et al. 2017)."""

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.num_heads, self.d_head = num_heads, d_model // num_heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def _split(self, x: Tensor) -> Tensor:  # [B, T, D] -> [B, H, T, d]
        return x.view(x.size(0), x.size(1), self.num_heads, self.d_head).transpose(1, 2)

    def _merge(self, x: Tensor) -> Tensor:  # [B, H, T, d] -> [B, T, D]
        return self.out(x.transpose(1, 2).reshape(x.size(0), x.size(2), -1))

    def forward(self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None) -> Tensor:
        return self.attend(query, self._split(self.key(key)), self._split(self.value(value)), mask)

    def keys_values(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Projected keys and values ``[B, H, T, d]`` of ``x`` (to cache while decoding)."""
        return self._split(self.key(x)), self._split(self.value(x))

    def attend(self, query: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        """Attention of ``query`` [B, T_q, D] over projected keys/values [B, H, T_k, d]."""
        p = self.dropout if self.training else 0.0
        q = self._split(self.query(query))
        return self._merge(F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p))


class RelPositionalEncoding(nn.Module):
    """Scales the input by sqrt(d) and returns sinusoidal embeddings of the relative positions
    ``T-1, ..., 0, ..., -(T-1)`` (ESPnet's "latest" rel_pos, Transformer-XL's R matrix)."""

    def __init__(self, d_model: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.d_model = d_model
        self.dropout = nn.Dropout(dropout)
        inv_freq = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        t = x.size(1)
        positions = torch.arange(t - 1, -t, -1, device=x.device, dtype=self.inv_freq.dtype)
        angles = positions[:, None] * self.inv_freq[None, :]
        pos = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)[None].to(x.dtype)
        return self.dropout(x * math.sqrt(self.d_model)), self.dropout(pos)


class RelPositionMultiHeadAttention(MultiHeadAttention):
    """Self-attention with relative positional scores (Transformer-XL; Conformer, Gulati 2020).

    score(i, j) = (q_i + u) . k_j  +  (q_i + v) . R_{i-j},  with learned biases u, v per head.
    The position term is computed against all 2T-1 offsets and shifted into place.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__(d_model, num_heads, dropout)
        self.pos = nn.Linear(d_model, d_model, bias=False)
        self.pos_bias_u = nn.Parameter(torch.zeros(num_heads, self.d_head))
        self.pos_bias_v = nn.Parameter(torch.zeros(num_heads, self.d_head))
        nn.init.xavier_uniform_(self.pos_bias_u)
        nn.init.xavier_uniform_(self.pos_bias_v)

    @staticmethod
    def _rel_shift(x: Tensor) -> Tensor:
        """[B, H, T, 2T-1] scores against offsets T-1..-(T-1) -> [B, H, T, T] with (i, j) at i-j."""
        b, h, t, n = x.shape
        x = F.pad(x, (1, 0)).view(b, h, n + 1, t)[:, :, 1:].view(b, h, t, n)
        return x[..., : n // 2 + 1]

    def forward(self, x: Tensor, pos: Tensor, mask: Tensor | None) -> Tensor:  # type: ignore[override]
        q = self._split(self.query(x))
        k, v = self._split(self.key(x)), self._split(self.value(x))
        p = self._split(self.pos(pos))  # [1, H, 2T-1, d]
        # The position term enters SDPA as an additive bias; masked positions get -inf.
        bd = self._rel_shift(torch.matmul(q + self.pos_bias_v[:, None], p.transpose(-2, -1)))
        bd = bd / math.sqrt(self.d_head)
        if mask is not None:
            bd = bd.masked_fill(~mask, float("-inf"))
        drop = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q + self.pos_bias_u[:, None], k, v, attn_mask=bd,
                                             dropout_p=drop)
        return self._merge(out)
