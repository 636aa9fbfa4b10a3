"""Multi-codebook Transformer LM over codec tokens (MusicGen / VALL-E AR style).

Input of a step: the sum of the K codebook embeddings of the previous step column (a pattern
decides which codes a column holds); output: K heads, one per codebook, over the codebook's
``card`` codes plus an end-of-sequence class (used on codebook 0 only, so generation knows
where an utterance ends). Token ids per codebook: codes ``0..card-1``, ``eos_id = card``,
``pad_id = card + 1`` (no code at that position: delays, padding, the first input column).

Conditioning:
- ``prefix`` (VALL-E): condition tokens (text/phoneme ids, own embedding table) and prompt
  codes are prepended; the loss covers only the generated part. Prefixes of different lengths
  are left-padded, so every utterance's generation starts at the same column.
- ``cross`` (MusicGen without T5): a small text encoder trained from scratch; every layer
  cross-attends to its output. Prompt codes, if any, are still prepended.
- ``none``: an unconditional LM (prompt codes may still be prepended).

Condition dropout (``cond_dropout``): in training the text of an utterance is replaced by one
``null`` token with that probability; generation with ``guidance`` runs the same null
condition beside the real one (classifier-free guidance, see :mod:`.generate`).
"""

from __future__ import annotations

import torch
from torch import nn

from audiokit.models.codec_lm.layers import Layer, TextEncoder, sinusoids
from audiokit.models.codec_lm.patterns import get_pattern

IGNORE = -100  # target id left out of the loss (cross-entropy's default ignore_index)
CONDITIONS = ("none", "prefix", "cross")


def pack_left(parts: list[tuple[torch.Tensor, torch.Tensor]], batch: int, dim: int,
              device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate each utterance's parts (the first ``lens[b]`` rows of each ``[B, L, D]``)
    right-aligned in one ``[B, W, D]`` (left padding with zeros); returns it and the lengths."""
    rows = [torch.cat([x[b, : int(n[b])] for x, n in parts], dim=0) if parts
            else torch.zeros(0, dim, device=device) for b in range(batch)]
    lens = torch.tensor([len(r) for r in rows], device=device)
    width = int(lens.max()) if batch else 0
    out = torch.zeros(batch, width, dim, device=device,
                      dtype=parts[0][0].dtype if parts else torch.float32)
    for b, r in enumerate(rows):
        if len(r):
            out[b, width - len(r):] = r
    return out, lens


class CodecLM(nn.Module):
    """Autoregressive LM over K codebooks in a codebook pattern, with optional conditioning.

    Args:
        n_q: codebooks K (the datamodule reads it from the token data).
        card: codes per codebook.
        text_vocab_size: condition token count (0 for ``condition: none``).
        pattern: ``delay`` | ``parallel`` | ``flattened`` | ``valle`` (codebook 0 only).
        condition: ``prefix`` | ``cross`` | ``none``.
        eos: learn an end-of-sequence on codebook 0 (variable-length generation); without it
            generation needs a number of frames.
    """

    def __init__(self, n_q: int, card: int, text_vocab_size: int = 0, *, pattern: str = "delay",
                 condition: str = "prefix", d_model: int = 256, num_heads: int = 4,
                 ffn_dim: int = 1024, num_layers: int = 4, dropout: float = 0.1,
                 text_layers: int = 2, cond_dropout: float = 0.0, eos: bool = True) -> None:
        super().__init__()
        if condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {CONDITIONS}, got {condition!r}")
        self.n_q, self.card, self.d_model = n_q, card, d_model
        self.eos_id, self.pad_id = card, card + 1
        self.eos = eos
        self.pattern = get_pattern(pattern, n_q)
        self.condition = condition
        self.cond_dropout = cond_dropout
        self.null_id = text_vocab_size  # the dropped condition
        self.code_embed = nn.ModuleList(nn.Embedding(card + 2, d_model) for _ in range(n_q))
        if condition == "prefix":
            self.text_embed = nn.Embedding(text_vocab_size + 1, d_model)
        elif condition == "cross":
            self.text_encoder = TextEncoder(text_vocab_size + 1, d_model, num_heads, ffn_dim,
                                            text_layers, dropout)
        self.layers = nn.ModuleList(Layer(d_model, num_heads, ffn_dim, dropout,
                                          cross=condition == "cross") for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)
        self.heads = nn.ModuleList(nn.Linear(d_model, card + 1) for _ in range(n_q))

    # ---- embeddings -----------------------------------------------------------------------
    def embed_codes(self, cols: torch.Tensor) -> torch.Tensor:
        """Step columns ``[B, K, L]`` (pad_id where empty) -> summed embeddings ``[B, L, D]``."""
        return sum(self.code_embed[k](cols[:, k]) for k in range(self.n_q))

    def embed_prompt(self, prompt: torch.Tensor) -> torch.Tensor:
        """Prompt codes ``[B, K, P]`` (all frames complete) -> ``[B, P, D]``, summing only the
        codebooks this LM generates (VALL-E's AR sees codebook 0 of its prompt)."""
        rows = torch.zeros(self.n_q, dtype=torch.bool, device=prompt.device)
        rows[self.pattern.ar_rows()] = True
        return self.embed_codes(prompt.masked_fill(~rows[None, :, None], self.pad_id))

    def null_text(self, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.full((batch, 1), self.null_id, dtype=torch.long, device=device),
                torch.ones(batch, dtype=torch.long, device=device))

    def drop_text(self, text: torch.Tensor, text_lens: torch.Tensor, drop: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Text with the utterances where ``drop`` is true replaced by the null token."""
        text = text.clone()
        text[drop, 0] = self.null_id
        return text, torch.where(drop, torch.ones_like(text_lens), text_lens)

    def prefix(self, batch: int, device: torch.device, text: torch.Tensor | None = None,
               text_lens: torch.Tensor | None = None, prompt: torch.Tensor | None = None,
               prompt_lens: torch.Tensor | None = None) -> dict:
        """What comes before the first generated step: ``x`` [B, W, D] (left-padded prefix),
        ``lens`` [B] and, for cross-attention, ``memory`` / ``memory_mask``."""
        if self.condition != "none" and text is None:
            text, text_lens = self.null_text(batch, device)
        elif self.condition != "none" and bool((text_lens == 0).any()):
            # an empty text is the null condition (cross-attention needs a key to look at)
            if text.shape[1] == 0:
                text = text.new_zeros(batch, 1)
            text, text_lens = self.drop_text(text, text_lens, text_lens == 0)
        parts, out = [], {"memory": None, "memory_mask": None}
        if self.condition == "prefix":
            parts.append((self.text_embed(text), text_lens))
        elif self.condition == "cross":
            out["memory"], out["memory_mask"] = self.text_encoder(text, text_lens)
        if prompt is not None and prompt.shape[-1]:
            parts.append((self.embed_prompt(prompt), prompt_lens))
        out["x"], out["lens"] = pack_left(parts, batch, self.d_model, device)
        return out

    # ---- the network ----------------------------------------------------------------------
    def run(self, x: torch.Tensor, positions: torch.Tensor, key_valid: torch.Tensor,
            caches: list[dict] | None = None, memory: torch.Tensor | None = None,
            memory_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states ``[B, Lq, D]`` of the new positions ``x`` [B, Lq, D].

        ``positions`` [B, Lq]: each position's index within its own utterance (after its left
        padding); ``key_valid`` [B, Lk]: which of all positions so far (cached + new) are real.
        """
        lk, lq = key_valid.shape[1], x.shape[1]
        q_abs = torch.arange(lk - lq, lk, device=x.device)
        k_abs = torch.arange(lk, device=x.device)
        causal = k_abs[None, :] <= q_abs[:, None]
        # every query may see itself, so left-padding rows never attend to nothing (NaN)
        mask = (causal[None] & key_valid[:, None, :]) | (k_abs[None, :] == q_abs[:, None])[None]
        x = x + sinusoids(positions.clamp(min=0), self.d_model)
        for i, layer in enumerate(self.layers):
            x = layer(x, mask[:, None], None if caches is None else caches[i], memory,
                      memory_mask)
        return self.norm(x)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """``[B, L, D]`` -> ``[B, K, L, card + 1]`` (the last class is eos)."""
        return torch.stack([head(hidden) for head in self.heads], dim=1)

    # ---- training -------------------------------------------------------------------------
    def targets(self, codes: torch.Tensor, code_lens: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(step layout [B, K, S] with eos after each utterance's last frame, valid [B, K, S]).

        Valid: the pattern's positions of real frames, plus the eos of codebook 0."""
        b, k, t = codes.shape
        ext = torch.cat([codes, codes.new_full((b, k, 1), self.eos_id)], dim=2)
        ext[torch.arange(b), :, code_lens] = self.eos_id
        steps, valid = self.pattern.build(ext, self.pad_id)
        frames = self.pattern.frame_of(steps.shape[2]).to(codes.device)
        lens = code_lens[:, None, None]
        keep = valid.to(codes.device)[None] & (frames[None] < lens)
        if self.eos:
            keep[:, 0] |= valid[0].to(codes.device)[None] & (frames[0][None] == lens[:, 0])
        used = max(self.pattern.num_steps(int(code_lens.max()) + int(self.eos)), 1)
        return steps[:, :, :used], keep[:, :, :used]

    def forward(self, codes: torch.Tensor, code_lens: torch.Tensor,
                text: torch.Tensor | None = None, text_lens: torch.Tensor | None = None,
                prompt: torch.Tensor | None = None, prompt_lens: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced (logits ``[B, K, S, card + 1]``, targets ``[B, K, S]``); targets are
        ``IGNORE`` where nothing is predicted (pads, delays, prefix)."""
        b, device = codes.shape[0], codes.device
        if text is not None and self.training and self.cond_dropout > 0:
            text, text_lens = self.drop_text(
                text, text_lens, torch.rand(b, device=device) < self.cond_dropout)
        steps, keep = self.targets(codes.long(), code_lens)
        inputs = steps.masked_fill(~keep, self.pad_id)
        start = inputs.new_full((b, self.n_q, 1), self.pad_id)
        inputs = torch.cat([start, inputs[:, :, :-1]], dim=2)
        pre = self.prefix(b, device, text, text_lens, prompt, prompt_lens)
        width = pre["x"].shape[1]
        x = torch.cat([pre["x"], self.embed_codes(inputs)], dim=1)
        positions = torch.arange(x.shape[1], device=device)[None] - (width - pre["lens"])[:, None]
        hidden = self.run(x, positions, positions >= 0, None, pre["memory"], pre["memory_mask"])
        return self.logits(hidden[:, width:]), steps.masked_fill(~keep, IGNORE)
