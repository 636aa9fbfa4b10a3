"""VALL-E's non-autoregressive stage: codebooks 1..K-1, one at a time, all frames at once.

Stage j (1 <= j < K) sees the condition prefix (text tokens, then the prompt's codes with all
K codebooks summed) and the target's codebooks 0..j-1 summed, through bidirectional
self-attention, and predicts codebook j of every target frame with head j. A learned stage
embedding tells the shared network which codebook it predicts. Training draws one stage per
batch; generation runs the stages in order, greedily (as VALL-E does).
"""

from __future__ import annotations

import torch
from torch import nn

from audiokit.models.codec_lm.layers import Layer, sinusoids
from audiokit.models.codec_lm.lm import IGNORE, pack_left


class CodecNAR(nn.Module):
    """Non-autoregressive model for codebooks 1..K-1 (see the module doc)."""

    def __init__(self, n_q: int, card: int, text_vocab_size: int = 0, *, d_model: int = 256,
                 num_heads: int = 4, ffn_dim: int = 1024, num_layers: int = 4,
                 dropout: float = 0.1) -> None:
        super().__init__()
        if n_q < 2:
            raise ValueError(f"a NAR stage needs 2 or more codebooks, got n_q={n_q}")
        self.n_q, self.card, self.d_model = n_q, card, d_model
        self.pad_id = card
        self.code_embed = nn.ModuleList(nn.Embedding(card + 1, d_model) for _ in range(n_q))
        self.text_embed = nn.Embedding(text_vocab_size + 1, d_model)
        self.stage_embed = nn.Embedding(n_q, d_model)
        self.layers = nn.ModuleList(Layer(d_model, num_heads, ffn_dim, dropout)
                                    for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)
        self.heads = nn.ModuleList(nn.Linear(d_model, card) for _ in range(n_q - 1))

    def embed_codes(self, codes: torch.Tensor, rows: int) -> torch.Tensor:
        """Sum of the embeddings of codebooks ``0..rows-1`` of ``codes`` [B, K', T]."""
        return sum(self.code_embed[k](codes[:, k]) for k in range(rows))

    def stage_logits(self, stage: int, codes: torch.Tensor, code_lens: torch.Tensor,
                     text: torch.Tensor | None = None, text_lens: torch.Tensor | None = None,
                     prompt: torch.Tensor | None = None,
                     prompt_lens: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[B, T, card]`` of codebook ``stage`` from codebooks < stage of ``codes``."""
        b, device = codes.shape[0], codes.device
        parts = []
        if text is not None:
            parts.append((self.text_embed(text), text_lens))
        if prompt is not None and prompt.shape[-1]:
            parts.append((self.embed_codes(prompt.long(), self.n_q), prompt_lens))
        pre, pre_lens = pack_left(parts, b, self.d_model, device)
        width, frames = pre.shape[1], codes.shape[-1]
        x = torch.cat([pre, self.embed_codes(codes.long(), stage)], dim=1)
        x = x + self.stage_embed.weight[stage]
        positions = torch.arange(x.shape[1], device=device)[None] - (width - pre_lens)[:, None]
        target_pos = torch.arange(frames, device=device)[None]
        valid = torch.cat([positions[:, :width] >= 0, target_pos < code_lens[:, None]], dim=1)
        diag = torch.eye(x.shape[1], dtype=torch.bool, device=device)
        mask = (valid[:, None, :] | diag[None])[:, None]
        h = x + sinusoids(positions.clamp(min=0), self.d_model)
        for layer in self.layers:
            h = layer(h, mask)
        return self.heads[stage - 1](self.norm(h)[:, width:])

    def forward(self, codes: torch.Tensor, code_lens: torch.Tensor,
                text: torch.Tensor | None = None, text_lens: torch.Tensor | None = None,
                prompt: torch.Tensor | None = None, prompt_lens: torch.Tensor | None = None,
                stage: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits ``[B, 1, T, card]``, targets ``[B, 1, T]``) of one stage (random when None)."""
        if codes.shape[1] != self.n_q:
            raise ValueError(f"NAR model for {self.n_q} codebooks, got {codes.shape[1]}")
        if stage is None:
            stage = int(torch.randint(1, self.n_q, ()))
        logits = self.stage_logits(stage, codes, code_lens, text, text_lens, prompt, prompt_lens)
        valid = torch.arange(codes.shape[-1], device=codes.device)[None] < code_lens[:, None]
        targets = codes[:, stage].long().masked_fill(~valid, IGNORE)
        return logits[:, None], targets[:, None]

    @torch.no_grad()
    def fill(self, first: torch.Tensor, code_lens: torch.Tensor,
             text: torch.Tensor | None = None, text_lens: torch.Tensor | None = None,
             prompt: torch.Tensor | None = None, prompt_lens: torch.Tensor | None = None
             ) -> torch.Tensor:
        """Codebook 0 ``[B, T]`` (from the AR stage) -> all codebooks ``[B, K, T]``, greedily."""
        b, frames = first.shape
        codes = first.new_full((b, self.n_q, frames), 0).long()
        codes[:, 0] = first
        for stage in range(1, self.n_q):
            logits = self.stage_logits(stage, codes, code_lens, text, text_lens, prompt,
                                       prompt_lens)
            codes[:, stage] = logits.argmax(-1)
        return codes
