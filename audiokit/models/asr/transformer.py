"""Transformer encoder and decoder for ASR (pre-LayerNorm, as ESPnet's ``normalize_before``)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from audiokit.models.asr.attention import MultiHeadAttention
from audiokit.models.asr.subsampling import Conv2dSubsampling
from audiokit.utils.masking import lengths_to_mask


def sinusoids(length: int, d_model: int, device=None) -> Tensor:
    """Absolute sinusoidal position embeddings [length, d_model] (Vaswani et al. 2017)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    inv_freq = torch.exp(torch.arange(0, d_model, 2, device=device) * (-math.log(10000.0) / d_model))
    return torch.stack([(pos * inv_freq).sin(), (pos * inv_freq).cos()], dim=-1).flatten(1)


def _feed_forward(d_model: int, ffn_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_model, ffn_dim), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(ffn_dim, d_model))


class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.attn_norm, self.ff_norm = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ff = _feed_forward(d_model, ffn_dim, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.attn_norm(x)
        x = x + self.dropout(self.attn(h, h, h, mask))
        return x + self.dropout(self.ff(self.ff_norm(x)))


class TransformerEncoder(nn.Module):
    """feats [B, T, F] -> (h [B, T', d_model], h_lens): subsampling, absolute positions, layers."""

    def __init__(self, input_dim: int, d_model: int = 256, num_heads: int = 4,
                 ffn_dim: int = 2048, num_blocks: int = 12, subsampling: int = 4,
                 dropout: float = 0.1, intermediate_layers: tuple[int, ...] | list[int] = ()) -> None:
        super().__init__()
        self.subsampling = Conv2dSubsampling(input_dim, d_model, subsampling)
        self.blocks = nn.ModuleList(EncoderLayer(d_model, num_heads, ffn_dim, dropout)
                                    for _ in range(num_blocks))
        self.dropout = nn.Dropout(dropout)
        self.after_norm = nn.LayerNorm(d_model)
        self.output_dim = d_model
        self.intermediate_layers = tuple(intermediate_layers)

    @property
    def min_input_frames(self) -> int:
        return self.subsampling.min_frames

    def forward(self, feats: Tensor, lens: Tensor, return_intermediate: bool = False):
        x, lens = self.subsampling(feats, lens)
        x = self.dropout(x * math.sqrt(x.size(-1)) + sinusoids(x.size(1), x.size(-1), x.device))
        mask = lengths_to_mask(lens, x.size(1))[:, None, None, :]
        intermediate = []
        for i, block in enumerate(self.blocks, start=1):
            x = block(x, mask)
            if i in self.intermediate_layers:
                intermediate.append(x)
        x = self.after_norm(x)
        return (x, lens, intermediate) if return_intermediate else (x, lens)


class DecoderLayer(nn.Module):
    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.self_norm, self.src_norm, self.ff_norm = (nn.LayerNorm(d_model) for _ in range(3))
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.src_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ff = _feed_forward(d_model, ffn_dim, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, self_mask: Tensor, memory: Tensor, memory_mask: Tensor) -> Tensor:
        h = self.self_norm(x)
        x = x + self.dropout(self.self_attn(h, h, h, self_mask))
        h = self.src_norm(x)
        x = x + self.dropout(self.src_attn(h, memory, memory, memory_mask))
        return x + self.dropout(self.ff(self.ff_norm(x)))

    def step(self, x: Tensor, cache: tuple[Tensor, ...] | None, memory: Tensor,
             memory_mask: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        """The layer for the newest positions ``x`` [N, l, D] of each prefix (inference).

        ``cache`` holds the keys and values of the earlier positions and of the memory
        (``None`` on the first call: the memory's are projected then), each [N, H, *, d];
        returns the output and the extended cache. Self-attention is causal, so an earlier
        position's keys and values do not change as the prefix grows: the cache gives exactly
        what a full recomputation would.
        """
        h = self.self_norm(x)
        k, v = self.self_attn.keys_values(h)
        if cache is None:
            mem_k, mem_v = self.src_attn.keys_values(memory)
        else:
            past_k, past_v, mem_k, mem_v = cache
            k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
        new, total = x.size(1), k.size(2)
        causal = None  # one new position sees every earlier one
        if new > 1:
            causal = torch.ones(new, total, dtype=torch.bool, device=x.device).tril(total - new)
        x = x + self.self_attn.attend(h, k, v, causal)
        x = x + self.src_attn.attend(self.src_norm(x), mem_k, mem_v, memory_mask)
        return x + self.ff(self.ff_norm(x)), (k, v, mem_k, mem_v)


class TransformerDecoder(nn.Module):
    """Attention decoder: token prefix + encoder memory -> next-token logits (teacher forcing
    in ``forward``; ``step`` gives next-token log-probs for beam search)."""

    def __init__(self, vocab_size: int, memory_dim: int, d_model: int = 256, num_heads: int = 4,
                 ffn_dim: int = 2048, num_blocks: int = 6, dropout: float = 0.1) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.memory_proj = nn.Linear(memory_dim, d_model) if memory_dim != d_model else nn.Identity()
        self.blocks = nn.ModuleList(DecoderLayer(d_model, num_heads, ffn_dim, dropout)
                                    for _ in range(num_blocks))
        self.dropout = nn.Dropout(dropout)
        self.after_norm = nn.LayerNorm(d_model)
        self.output = nn.Linear(d_model, vocab_size)
        self.d_model = d_model

    def forward(self, ys: Tensor, ys_lens: Tensor, memory: Tensor, memory_lens: Tensor) -> Tensor:
        """ys [B, L] (sos + tokens, padded) -> logits [B, L, V]."""
        length = ys.size(1)
        causal = torch.ones(length, length, dtype=torch.bool, device=ys.device).tril()
        self_mask = causal[None, None] & lengths_to_mask(ys_lens, length)[:, None, None, :]
        # A padded query row would attend to nothing (NaN); let it see itself instead.
        self_mask = self_mask | torch.eye(length, dtype=torch.bool, device=ys.device)
        memory_mask = lengths_to_mask(memory_lens, memory.size(1))[:, None, None, :]
        x = self.embed(ys) * math.sqrt(self.d_model)
        x = self.dropout(x + sinusoids(length, self.d_model, ys.device).to(x.dtype))
        memory = self.memory_proj(memory)
        for block in self.blocks:
            x = block(x, self_mask, memory, memory_mask)
        return self.output(self.after_norm(x))

    def step(self, ys: Tensor, state: list | None, memory: Tensor, memory_lens: Tensor):
        """Log-probs of the next token after each prefix ``ys`` [N, L]; returns (logp [N, V],
        state). ``state`` (None at first) caches every layer's keys and values of the prefix
        and of the memory, so a call computes only the newest position: beam search reorders
        it with ``select_state``. Equal to ``forward(ys)[:, -1]`` (a test checks)."""
        start = 0 if state is None else state[0][0].size(2)  # positions already cached
        length = ys.size(1)
        memory_mask = lengths_to_mask(memory_lens, memory.size(1))[:, None, None, :]
        if state is None:
            memory = self.memory_proj(memory)
        x = self.embed(ys[:, start:]) * math.sqrt(self.d_model)
        x = x + sinusoids(length, self.d_model, ys.device)[start:].to(x.dtype)
        caches = []
        for i, block in enumerate(self.blocks):
            x, cache = block.step(x, None if state is None else state[i], memory, memory_mask)
            caches.append(cache)
        logits = self.output(self.after_norm(x[:, -1]))
        return logits.log_softmax(-1), caches
