"""Which spectrogram patches the Audio-MAE encoder sees: random or structured masking that
keeps exactly the requested share of each utterance's patches visible."""

from __future__ import annotations

import torch
from torch import Tensor, nn

MODES = ("random", "time", "frequency", "time_frequency")


class PatchMasker(nn.Module):
    """Chooses the visible patches of a frequency-major grid (token ``f * time + t``).

    Each utterance keeps ``round(valid * (1 - mask_ratio))`` of its valid patches (at least
    one). The patches are ranked by a random score and the lowest kept, so the count is exact
    for every mode; the modes differ in how scores are drawn (Huang et al. 2022, Audio-MAE):

    - ``random``: one score per patch;
    - ``time``: one score per time column, so whole columns are masked (the last one chosen
      may be masked in part, to keep the count exact);
    - ``frequency``: likewise per frequency row;
    - ``time_frequency``: the larger of a column's and a row's score, so the visible patches
      lie where kept columns and kept rows cross.

    Patches that share a score (a column, a row) are ordered at random among themselves, never
    interleaved with another group's. Padding patches always rank last and are never visible.
    """

    def __init__(self, mask_ratio: float = 0.8, mode: str = "random") -> None:
        super().__init__()
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
        if mode not in MODES:
            raise ValueError(f"mask mode must be one of {MODES}, got {mode!r}")
        self.mask_ratio = mask_ratio
        self.mode = mode

    def num_visible(self, valid: Tensor) -> Tensor:
        """Visible patches per utterance given its valid patch count [B]."""
        keep = torch.round(valid.to(torch.float64) * (1.0 - self.mask_ratio)).long()
        return keep.clamp(min=1)

    def scores(self, batch: int, freq: int, time: int, device: torch.device,
               generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(the structured score, a per-patch tie-breaker), each [B, freq * time]."""
        def draw(*shape: int) -> Tensor:
            return torch.rand(*shape, device=device, generator=generator)

        tie = draw(batch, freq, time)
        if self.mode == "random":
            score = tie
        elif self.mode == "time":
            score = draw(batch, 1, time).expand(-1, freq, -1)
        elif self.mode == "frequency":
            score = draw(batch, freq, 1).expand(-1, -1, time)
        else:
            score = torch.maximum(draw(batch, 1, time), draw(batch, freq, 1))
        return score.reshape(batch, freq * time), tie.reshape(batch, freq * time)

    def forward(self, padding: Tensor, freq: int,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """``padding`` [B, N] (True = padding patch, N = ``freq`` x time) ->

        - ``keep`` [B, K]: indices of the visible patches (K = the most any utterance keeps);
        - ``keep_padding`` [B, K]: True where an utterance keeps fewer and ``keep`` is filler;
        - ``masked`` [B, N]: True for the valid patches the encoder does not see.
        """
        batch, total = padding.shape
        score, tie = self.scores(batch, freq, total // freq, padding.device, generator)
        score = score.masked_fill(padding, float("inf"))
        # By score, ties (a column's or row's patches) in random order: a stable sort by score
        # of the patches shuffled by the tie-breaker. Groups never interleave.
        order = tie.argsort(dim=1)
        order = order.gather(1, score.gather(1, order).argsort(dim=1, stable=True))
        num_keep = self.num_visible((~padding).sum(1))
        width = int(num_keep.max())
        keep = order[:, :width]
        keep_padding = torch.arange(width, device=padding.device) >= num_keep.unsqueeze(1)
        visible = torch.zeros_like(padding)
        visible.scatter_(1, keep, ~keep_padding)
        return keep, keep_padding, ~visible & ~padding
