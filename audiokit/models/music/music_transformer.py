"""Music Transformer: a causal Transformer LM over event tokens with relative self-attention
(``relative: true``), or, as its control, the same network with sinusoidal absolute positions
added to the embeddings and no relative term (``relative: false, absolute_positions: true``).

Same interface as :class:`audiokit.models.lm.TransformerLM`: ``forward(ys, lens)`` -> logits
``[B, L, V]`` and a cached ``step(ys, state)`` for sampling. ``max_len`` bounds the context:
the relative embeddings reach that far, and sequences longer than it are refused.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from audiokit.models.lm.transformer_lm import LMState, sinusoidal_positions
from audiokit.models.music.relative_attention import RelativeCausalSelfAttention


class MusicBlock(nn.Module):
    """Pre-norm layer: (relative) causal self-attention, then a GELU feed-forward block."""

    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, max_len: int, dropout: float,
                 relative: bool, attention_dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = RelativeCausalSelfAttention(d_model, num_heads, max_len, attention_dropout,
                                                relative)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, ffn_dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(ffn_dim, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, cache: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        a, kv = self.attn(self.norm1(x), cache)
        x = x + self.dropout(a)
        return x + self.dropout(self.ffn(self.norm2(x))), kv


class MusicTransformer(nn.Module):
    """Args:
        vocab_size: event vocabulary (the token dir's, ``<sos/eos>`` included).
        d_model, num_heads, ffn_dim, num_layers, dropout: the usual Transformer sizes
            (``dropout`` on embeddings, residual branches and the feed-forward hidden layer).
        attention_dropout: dropout on the attention weights (costly on a CPU: [B, H, L, L]).
        max_len: longest context (the training crop length, sos included).
        relative: add relative position logits (the Music Transformer).
        absolute_positions: add sinusoidal positions to the embeddings (the vanilla control).
    """

    def __init__(self, vocab_size: int, d_model: int = 256, num_heads: int = 8,
                 ffn_dim: int = 1024, num_layers: int = 6, dropout: float = 0.1,
                 max_len: int = 512, relative: bool = True,
                 absolute_positions: bool = False, attention_dropout: float = 0.0) -> None:
        super().__init__()
        self.vocab_size, self.d_model, self.max_len = vocab_size, d_model, max_len
        self.absolute_positions = absolute_positions
        self.embed = nn.Embedding(vocab_size, d_model)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(MusicBlock(d_model, num_heads, ffn_dim, max_len, dropout,
                                               relative, attention_dropout)
                                    for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def _run(self, ys: Tensor, state: LMState | None) -> tuple[Tensor, LMState]:
        start = 0 if state is None else state[0][0].shape[2]
        if start + ys.shape[1] > self.max_len:
            raise ValueError(f"{start + ys.shape[1]} events exceed the model's context "
                             f"max_len={self.max_len}")
        x = self.embed(ys) * math.sqrt(self.d_model)
        if self.absolute_positions:
            x = x + sinusoidal_positions(ys.shape[1], self.d_model, start).to(x.device)
        x = self.dropout(x)
        new_state = []
        for i, layer in enumerate(self.layers):
            x, kv = layer(x, None if state is None else state[i])
            new_state.append(kv)
        return self.head(self.norm(x)), new_state

    def forward(self, ys: Tensor, lens: Tensor | None = None) -> Tensor:
        """``ys`` [B, L] -> logits [B, L, V]; ``logits[b, t]`` scores the token after
        ``ys[b, :t+1]`` (right padding is harmless: attention is causal)."""
        return self._run(ys, None)[0]

    def step(self, ys: Tensor, state: LMState | None) -> tuple[Tensor, LMState]:
        """Log-probabilities of the token after each prefix ``ys`` [N, L]: the whole prefix
        the first time (``state`` None), then only its new last token against the cache."""
        if state is not None and state[0][0].shape[2] != ys.shape[1] - 1:
            raise ValueError(f"state covers {state[0][0].shape[2]} tokens but ys has "
                             f"{ys.shape[1]}: step() extends a prefix by exactly one token")
        logits, state = self._run(ys if state is None else ys[:, -1:], state)
        return logits[:, -1].log_softmax(-1), state
