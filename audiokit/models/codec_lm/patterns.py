"""Codebook patterns: how K parallel codebooks of T frames are laid out as LM steps.

A pattern maps codes ``[B, K, T]`` to a step layout ``[B, K, S]``: at step ``s`` the LM
predicts (and is then fed) the tokens of column ``s`` whose ``valid`` mask is true. Positions
that hold no code (delays, the other codebooks of a flattened step) hold ``pad_id``; the LM
neither predicts them nor sees them (its input replaces every invalid position with ``pad_id``).

- ``parallel``: S = T, all K codebooks of a frame in one step (fast, ignores their dependency).
- ``delay`` (MusicGen): codebook k is shifted right by k steps, S = T + K - 1; codebook k of
  frame t is predicted after codebooks < k of the same frame and all of earlier frames.
- ``flattened``: S = T * K, one codebook per step (exact factorisation, K times the steps).
- ``valle`` (VALL-E split): the autoregressive stage runs over codebook 0 only, S = T; the
  codebooks 1..K-1 stay in the layout (so the round trip is exact) but are invalid for the
  AR LM and are filled by the non-autoregressive model (:class:`CodecNAR`).

``frame_of(k, s)`` says which frame a step position holds; generation uses it to know when an
utterance with an end-of-sequence at frame T is complete (``num_steps(T)``).
"""

from __future__ import annotations

import torch


class CodebookPattern:
    """Base: subclasses define ``num_steps`` and ``_column`` (the step of code (k, t))."""

    name = ""

    def __init__(self, n_q: int) -> None:
        if n_q < 1:
            raise ValueError(f"a codebook pattern needs n_q >= 1, got {n_q}")
        self.n_q = n_q

    # -- geometry -------------------------------------------------------------------------
    def num_steps(self, frames: int) -> int:
        raise NotImplementedError

    def _column(self, k: int, t: torch.Tensor) -> torch.Tensor:
        """Step index of the code of codebook ``k`` at frames ``t``."""
        raise NotImplementedError

    def ar_rows(self) -> list[int]:
        """Codebooks the autoregressive LM predicts (all but VALL-E's)."""
        return list(range(self.n_q))

    def index(self, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(step of each code [K, T], valid mask [K, S]): where the AR LM predicts code (k, t)."""
        t = torch.arange(frames)
        cols = torch.stack([self._column(k, t) for k in range(self.n_q)])
        valid = torch.zeros(self.n_q, self.num_steps(frames), dtype=torch.bool)
        for k in self.ar_rows():
            valid[k, cols[k]] = True
        return cols, valid

    def frame_of(self, steps: int) -> torch.Tensor:
        """Frame held at each position of a ``[K, steps]`` layout (-1 where none can be)."""
        frames = torch.full((self.n_q, steps), -1, dtype=torch.long)
        t = torch.arange(steps + 1)  # enough frames to cover every step
        for k in range(self.n_q):
            cols = self._column(k, t)
            keep = cols < steps
            frames[k, cols[keep]] = t[keep]
        return frames

    # -- mapping --------------------------------------------------------------------------
    def build(self, codes: torch.Tensor, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes ``[B, K, T]`` -> (steps ``[B, K, S]``, valid ``[K, S]``)."""
        b, k, frames = codes.shape
        if k != self.n_q:
            raise ValueError(f"{self.name} pattern built for {self.n_q} codebooks, got {k}")
        cols, valid = self.index(frames)
        steps = codes.new_full((b, k, self.num_steps(frames)), pad_id)
        for q in range(k):
            steps[:, q, cols[q]] = codes[:, q]
        return steps, valid

    def revert(self, steps: torch.Tensor, frames: int) -> torch.Tensor:
        """Steps ``[B, K, S]`` (S >= num_steps(frames)) -> codes ``[B, K, frames]``."""
        if steps.shape[1] != self.n_q or steps.shape[2] < self.num_steps(frames):
            raise ValueError(f"{self.name} pattern: steps {list(steps.shape)} cannot hold "
                             f"{frames} frames of {self.n_q} codebooks")
        cols, _ = self.index(frames)
        return torch.stack([steps[:, q, cols[q]] for q in range(self.n_q)], dim=1)


class ParallelPattern(CodebookPattern):
    name = "parallel"

    def num_steps(self, frames: int) -> int:
        return frames

    def _column(self, k: int, t: torch.Tensor) -> torch.Tensor:
        return t


class DelayPattern(CodebookPattern):
    name = "delay"

    def num_steps(self, frames: int) -> int:
        return frames + self.n_q - 1 if frames else 0

    def _column(self, k: int, t: torch.Tensor) -> torch.Tensor:
        return t + k


class FlattenedPattern(CodebookPattern):
    name = "flattened"

    def num_steps(self, frames: int) -> int:
        return frames * self.n_q

    def _column(self, k: int, t: torch.Tensor) -> torch.Tensor:
        return t * self.n_q + k


class ValleARPattern(ParallelPattern):
    """Parallel layout in which only codebook 0 is the AR LM's (the NAR fills the rest)."""

    name = "valle"

    def ar_rows(self) -> list[int]:
        return [0]


PATTERNS = {p.name: p for p in (ParallelPattern, DelayPattern, FlattenedPattern, ValleARPattern)}


def get_pattern(name: str, n_q: int) -> CodebookPattern:
    if name not in PATTERNS:
        raise ValueError(f"unknown codebook pattern {name!r}; valid: {sorted(PATTERNS)}")
    return PATTERNS[name](n_q)
