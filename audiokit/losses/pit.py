"""Permutation-invariant training (PIT): best assignment of estimates to references."""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from audiokit.losses.perceptual import PerceptualLoss
from audiokit.losses.separation import OBJECTIVES, pairwise_objective

# Convention used throughout: pair_loss[b, i, j] is the loss of estimate i against
# reference j, and perm[b, j] is the index of the estimate assigned to reference j, so
# reorder_estimates(est, perm)[b, j] = est[b, perm[b, j]] lines up with ref[b, j].

EXHAUSTIVE_MAX_SOURCES = 3  # S! permutations: 6 at S=3; beyond, the Hungarian algorithm


@lru_cache(maxsize=16)
def _all_permutations(num_sources: int) -> Tensor:
    return torch.tensor(list(itertools.permutations(range(num_sources))), dtype=torch.long)


def _pit_exhaustive(pair_loss: Tensor) -> tuple[Tensor, Tensor]:
    num_sources = pair_loss.shape[-1]
    perms = _all_permutations(num_sources).to(pair_loss.device)  # [P, S]: perms[p, j] = est
    refs = torch.arange(num_sources, device=pair_loss.device)
    per_perm = pair_loss[:, perms, refs].mean(-1)  # [B, P, S] -> [B, P]
    loss, best = per_perm.min(dim=-1)
    return loss, perms[best]


def _pit_hungarian(pair_loss: Tensor) -> tuple[Tensor, Tensor]:
    cost = pair_loss.detach().float().cpu().numpy()
    if not np.isfinite(cost).all():
        raise ValueError("PIT: the pairwise loss matrix contains NaN or inf")
    perm = np.empty(cost.shape[:2], dtype=np.int64)
    for b in range(cost.shape[0]):  # scipy solves one matrix at a time
        est_idx, ref_idx = linear_sum_assignment(cost[b])
        perm[b, ref_idx] = est_idx
    perm_t = torch.from_numpy(perm).to(pair_loss.device)
    return gather_pairs(pair_loss, perm_t).mean(-1), perm_t


def gather_pairs(pair_loss: Tensor, perm: Tensor) -> Tensor:
    """pair_loss[b, perm[b, j], j] for every j: [B, S] (differentiable)."""
    return pair_loss.gather(1, perm.unsqueeze(1)).squeeze(1)


def pit_from_pairwise(pair_loss: Tensor, method: str = "auto") -> tuple[Tensor, Tensor]:
    """Minimise the mean assigned loss over permutations.

    ``pair_loss`` [B, S, S] (estimate i, reference j), lower = better. Returns ``loss`` [B]
    (mean over sources of the assigned pairs, differentiable) and ``perm`` LongTensor [B, S]
    with perm[b, j] = the estimate assigned to reference j. ``method``: "exhaustive" (all S!
    permutations, vectorised over the batch), "hungarian" (scipy linear_sum_assignment per
    item) or "auto" (exhaustive for S <= 3, Hungarian beyond). Ties go to the first
    permutation in lexicographic order (exhaustive) or scipy's choice (Hungarian).
    """
    if pair_loss.dim() != 3 or pair_loss.shape[1] != pair_loss.shape[2]:
        raise ValueError(f"pair_loss must be [B, S, S], got {tuple(pair_loss.shape)}")
    if method == "auto":
        method = "exhaustive" if pair_loss.shape[-1] <= EXHAUSTIVE_MAX_SOURCES else "hungarian"
    if method == "exhaustive":
        return _pit_exhaustive(pair_loss)
    if method == "hungarian":
        return _pit_hungarian(pair_loss)
    raise ValueError(f"unknown PIT method {method!r}; expected auto, exhaustive or hungarian")


def reorder_estimates(est: Tensor, perm: Tensor) -> Tensor:
    """est [B, S, ...] reordered so that out[b, j] = est[b, perm[b, j]] (aligned with ref)."""
    index = perm.reshape(*perm.shape, *([1] * (est.dim() - 2))).expand(-1, -1, *est.shape[2:])
    return est.gather(1, index)


class PITLoss(nn.Module):
    """Negative ``objective`` (dB) under the best permutation; minimise it.

    ``forward(est [B, S, T], ref [B, S, T], lengths [B] | None)`` returns the loss reduced over
    the batch ("mean", "sum", or "none" -> [B]); each item's loss is the mean over sources of
    -objective. With ``return_perm=True`` it returns ``(loss, perm)``, perm as in
    :func:`pit_from_pairwise`. ``zero_mean=None`` means True for si_sdr, False otherwise.
    ``perceptual_weight`` > 0 adds that times :class:`~audiokit.losses.perceptual.PerceptualLoss`
    (a PESQ-correlated term, at ``sample_rate``) of the estimates in the chosen permutation.
    """

    def __init__(self, objective: str = "si_sdr", reduction: str = "mean",
                 zero_mean: bool | None = None, eps: float = 1e-8,
                 clamp_db: float | None = None, method: str = "auto",
                 perceptual_weight: float = 0.0, sample_rate: int = 8000) -> None:
        super().__init__()
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; expected one of {OBJECTIVES}")
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"unknown reduction {reduction!r}; expected mean, sum or none")
        self.objective, self.reduction, self.zero_mean = objective, reduction, zero_mean
        self.eps, self.clamp_db, self.method = eps, clamp_db, method
        self.perceptual_weight = perceptual_weight
        self.perceptual = (PerceptualLoss(sample_rate, reduction="none")
                           if perceptual_weight else None)

    def forward(self, est: Tensor, ref: Tensor, lengths: Tensor | None = None,
                return_perm: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        if est.shape != ref.shape:
            raise ValueError(f"PITLoss: est {tuple(est.shape)} and ref {tuple(ref.shape)} "
                             "must have the same shape [B, S, T]")
        pair = pairwise_objective(est, ref, self.objective, lengths, self.zero_mean,
                                  self.eps, self.clamp_db)
        loss, perm = pit_from_pairwise(-pair, self.method)
        if self.perceptual is not None:  # the permutation is the objective's choice
            aligned = reorder_estimates(est, perm)
            loss = loss + self.perceptual_weight * self.perceptual(aligned, ref, lengths)
        if self.reduction == "mean":
            loss = loss.mean()
        elif self.reduction == "sum":
            loss = loss.sum()
        return (loss, perm) if return_perm else loss

    def extra_repr(self) -> str:
        return f"objective={self.objective}, reduction={self.reduction}, method={self.method}"
