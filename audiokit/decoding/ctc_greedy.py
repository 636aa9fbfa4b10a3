"""CTC best-path (greedy) decoding."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def check_ctc_inputs(log_probs: torch.Tensor, lens: torch.Tensor) -> None:
    """Shapes [B, T, V] and [B], lengths within 0..T: else a clear error."""
    if log_probs.dim() != 3:
        raise ValueError(f"CTC log-probs must be [B, T, V], got shape {tuple(log_probs.shape)}")
    if lens.shape != (log_probs.size(0),):
        raise ValueError(f"lengths must be [B={log_probs.size(0)}], got shape {tuple(lens.shape)}")
    if len(lens) and (int(lens.min()) < 0 or int(lens.max()) > log_probs.size(1)):
        raise ValueError(f"lengths {lens.tolist()} outside 0..T={log_probs.size(1)}")


def ctc_greedy(log_probs: torch.Tensor, lens: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Most likely label per frame, repeats collapsed, blanks dropped, frames >= lens ignored.

    log_probs [B, T, V] (any scores: only the argmax matters), lens [B] -> B token-id lists.
    """
    check_ctc_inputs(log_probs, lens)
    best = log_probs.argmax(-1)  # [B, T]
    prev = F.pad(best, (1, 0), value=-1)[:, :-1]  # label of the previous frame (-1 before t=0)
    frames = torch.arange(best.size(1), device=best.device)
    keep = (best != blank) & (best != prev) & (frames < lens.to(best.device)[:, None])
    return [row[k].tolist() for row, k in zip(best.cpu(), keep.cpu(), strict=True)]
