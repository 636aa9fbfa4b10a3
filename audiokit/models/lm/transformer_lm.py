"""Causal Transformer language model over token ids, with a key/value cache for beam search."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Per layer (keys, values), each [N, heads, L, d_head]: dim 0 is the hypothesis, so beam
# search can reorder the whole state with index_select(0, ...).
LMState = list[tuple[Tensor, Tensor]]


def sinusoidal_positions(length: int, d_model: int, start: int = 0) -> Tensor:
    """``[length, d_model]`` sinusoidal encodings of positions ``start .. start+length-1``."""
    inv_freq = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    angles = torch.arange(start, start + length, dtype=torch.float32)[:, None] * inv_freq[None]
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)[:, :d_model]


class CausalBlock(nn.Module):
    """Pre-norm Transformer layer: causal self-attention and a GELU feed-forward block.

    ``forward`` takes the keys/values of earlier positions (``cache``) and returns its own
    with the new positions appended, so decoding one token at a time costs O(L), not O(L^2).
    """

    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.num_heads, self.d_head = num_heads, d_model // num_heads
        self.norm1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, ffn_dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(ffn_dim, d_model))
        self.dropout = nn.Dropout(dropout)
        self.attn_dropout = dropout

    def forward(self, x: Tensor, cache: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """``x`` [N, T, D] (positions after the cached ones) -> ([N, T, D], (keys, values))."""
        n, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(n, t, 3, self.num_heads, self.d_head).unbind(2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [N, H, T, d]
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        # Query i (absolute position past + i) may see keys 0 .. past + i.
        past = k.shape[2] - t
        mask = None
        if t > 1:
            mask = torch.ones(t, k.shape[2], dtype=torch.bool, device=x.device).tril(past)
        p = self.attn_dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        x = x + self.dropout(self.out(a.transpose(1, 2).reshape(n, t, d)))
        x = x + self.dropout(self.ffn(self.norm2(x)))
        return x, (k, v)


class TransformerLM(nn.Module):
    """Autoregressive Transformer LM: ``P(y_t | sos, y_1 .. y_{t-1})`` over ``vocab_size`` ids.

    Sequences start with ``<sos>`` (the task prepends it); right padding is harmless because
    attention is causal: a valid position never sees a later one, so ``lens`` is not needed
    to compute the valid positions' logits (it is accepted for the common model interface).

    Args:
        vocab_size: number of token ids (the tokenizer's, ``<sos/eos>`` included).
        d_model: embedding and hidden width.
        num_heads: attention heads per layer.
        ffn_dim: hidden width of each feed-forward block.
        num_layers: number of Transformer layers.
        dropout: dropout on embeddings, attention weights and residual branches.
    """

    def __init__(self, vocab_size: int, d_model: int = 256, num_heads: int = 4,
                 ffn_dim: int = 1024, num_layers: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        self.vocab_size, self.d_model = vocab_size, d_model
        self.embed = nn.Embedding(vocab_size, d_model)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            CausalBlock(d_model, num_heads, ffn_dim, dropout) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def _embed(self, ys: Tensor, start: int) -> Tensor:
        pos = sinusoidal_positions(ys.shape[1], self.d_model, start).to(ys.device)
        return self.dropout(self.embed(ys) * math.sqrt(self.d_model) + pos)

    def _run(self, ys: Tensor, state: LMState | None) -> tuple[Tensor, LMState]:
        start = 0 if state is None else state[0][0].shape[2]
        x = self._embed(ys, start)
        new_state = []
        for i, layer in enumerate(self.layers):
            x, kv = layer(x, None if state is None else state[i])
            new_state.append(kv)
        return self.head(self.norm(x)), new_state

    def forward(self, ys: Tensor, lens: Tensor | None = None) -> Tensor:
        """``ys`` [B, L] token ids (starting with sos), ``lens`` [B] -> logits [B, L, V].

        ``logits[b, t]`` scores the token that follows ``ys[b, :t + 1]``.
        """
        return self._run(ys, None)[0]

    def step(self, ys: Tensor, state: LMState | None) -> tuple[Tensor, LMState]:
        """Log-probabilities of the token after each prefix ``ys`` [N, L] -> ([N, V], state).

        ``state`` is None at the first call; afterwards pass back what the previous call
        returned (reordered along dim 0 with the hypotheses) together with ``ys`` grown by
        one token: only the new last token is then computed, against the cached keys/values.
        """
        if state is not None and state[0][0].shape[2] != ys.shape[1] - 1:
            raise ValueError(f"state covers {state[0][0].shape[2]} tokens but ys has "
                             f"{ys.shape[1]}: step() extends a prefix by exactly one token")
        logits, state = self._run(ys if state is None else ys[:, -1:], state)
        return logits[:, -1].log_softmax(-1), state
