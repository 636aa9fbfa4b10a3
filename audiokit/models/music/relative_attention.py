"""Causal self-attention with relative position logits (Shaw et al. 2018), computed with the
memory-efficient "skew" of the Music Transformer (Huang et al. 2018, section 3.4.1).

Each head learns one embedding per relative distance ``j - i`` in ``-(max_len-1) .. 0``
(``E`` is ``[heads, max_len, d_head]``: O(L·D) memory, not Shaw's O(L²·D) tensor of one
embedding per query/key pair). ``Q Eᵀ`` gives a ``[T, K]`` matrix whose column ``m`` holds
distance ``m - (T-1)``; :func:`skew` moves each entry to the key column it belongs to
(pad one zero column on the left, reshape, drop the first row), so that
``S_rel[i, j] = q_i · E[j - i]`` for every key ``j`` a query may see. The logits are
``(Q Kᵀ + S_rel) / sqrt(d_head)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def skew(qe: Tensor) -> Tensor:
    """``qe`` [..., T, K] (``T <= K``; column m: distance m - (T-1) from the last query) ->
    [..., T, K] with entry (i, j) = ``qe[..., i, j - i + T - 1]`` wherever that column exists,
    i.e. for every key j <= i + (K - T) (the causal part; the rest is left-over values)."""
    *lead, t, k = qe.shape
    padded = F.pad(qe, (1, 0))                              # [..., T, K+1]
    return padded.reshape(*lead, k + 1, t)[..., 1:, :].reshape(*lead, t, k)


class RelativeCausalSelfAttention(nn.Module):
    """Multi-head causal self-attention; with ``relative`` the skewed relative logits are added.

    ``forward(x, cache)`` takes the keys/values of earlier positions and returns its own, as
    :class:`audiokit.models.lm.transformer_lm.CausalBlock` does; at most ``max_len`` keys
    (the longest distance with an embedding).
    """

    def __init__(self, d_model: int, num_heads: int, max_len: int, dropout: float = 0.0,
                 relative: bool = True) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.num_heads, self.d_head, self.max_len = num_heads, d_model // num_heads, max_len
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout
        self.relative = relative
        if relative:  # row max_len-1-r: distance -r
            self.rel = nn.Parameter(torch.randn(num_heads, max_len, self.d_head) * self.d_head ** -0.5)

    def relative_logits(self, q: Tensor, num_keys: int) -> Tensor:
        """``S_rel`` [N, H, T, K] for queries ``q`` [N, H, T, d] at the last T of K positions."""
        if num_keys > self.max_len:
            raise ValueError(f"{num_keys} positions, but relative embeddings reach only "
                             f"max_len={self.max_len}")
        e = self.rel[:, self.max_len - num_keys:]           # [H, K, d]: distances -(K-1) .. 0
        qe = torch.matmul(q, e.transpose(-1, -2).unsqueeze(0))  # [N, H, T, K]
        # query i sits at position K-T+i: key j is at distance j-(K-T+i), column j-i+T-1 of qe
        return skew(qe)

    def forward(self, x: Tensor, cache: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        n, t, d = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.num_heads, self.d_head).unbind(2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [N, H, T, d]
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        keys = k.shape[2]
        past = keys - t
        causal = torch.ones(t, keys, dtype=torch.bool, device=x.device).tril(past)
        if self.relative:  # scaled on q ([T, d]), not on the [T, K] logits: cheaper
            bias = self.relative_logits(q / math.sqrt(self.d_head), keys)
            mask = bias.masked_fill(~causal, float("-inf"))
        else:
            mask = causal
        p = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.out(a.transpose(1, 2).reshape(n, t, d)), (k, v)
