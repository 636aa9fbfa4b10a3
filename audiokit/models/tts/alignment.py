"""Monotonic alignment search (Glow-TTS, VITS) through the prebuilt
``monotonic-alignment-search`` wheel (no Cython build step here).

Given scores ``log_p[b, n, t]`` of text token n for frame t, the hard alignment is the 0/1
matrix of the monotonic path that maximises the summed score: every frame belongs to exactly
one token, the first frame to the first token, the last frame to the last token, and from
one frame to the next the token stays or moves on by one (so every token gets >= 1 frame).
"""

from __future__ import annotations

import torch
from monotonic_alignment_search import maximum_path


@torch.no_grad()
def monotonic_alignment(log_p: torch.Tensor, text_lens: torch.Tensor,
                        feat_lens: torch.Tensor) -> torch.Tensor:
    """``log_p`` [B, N, T] -> path [B, N, T] of 0/1 (float, same device); cells outside an
    utterance's N x T block are 0. Each utterance needs T >= N."""
    short = (feat_lens < text_lens).nonzero().flatten().tolist()
    if short:
        b = short[0]
        raise ValueError(f"monotonic_alignment: item {b} has {int(feat_lens[b])} frames for "
                         f"{int(text_lens[b])} tokens (every token needs a frame)")
    n = torch.arange(log_p.size(1), device=log_p.device)
    t = torch.arange(log_p.size(2), device=log_p.device)
    mask = (n[None, :, None] < text_lens[:, None, None]) & (t[None, None, :] < feat_lens[:, None, None])
    path = maximum_path(log_p.detach().float().cpu(), mask.float().cpu())
    return path.to(log_p.device, log_p.dtype) * mask
