"""Swapped prediction over learned clusters (SwAV, Caron et al. 2020; SPIN, Chang et al. 2023):
each view's balanced cluster assignment is the target for the other view's prediction."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


@torch.no_grad()
def sinkhorn(scores: Tensor, eps: float = 0.05, iters: int = 3) -> Tensor:
    """Similarities [M, K] of M items to K clusters -> soft assignments [M, K] whose rows sum to
    1 and whose columns each hold M / K in all (equipartition, after ``iters`` rounds of
    Sinkhorn-Knopp on ``exp(scores / eps)``). The balance is what keeps a clustering objective
    from putting every item in one cluster."""
    items, clusters = scores.shape
    logits = scores.float() / eps
    q = (logits - logits.max()).exp()
    q = q / q.sum()
    for _ in range(iters):
        q = q / q.sum(0, keepdim=True) / clusters   # each cluster: 1 / K of the mass
        q = q / q.sum(1, keepdim=True) / items      # each item: 1 / M of the mass
    return q * items


def swapped_prediction_loss(logits_a: Tensor, logits_b: Tensor, targets_a: Tensor,
                            targets_b: Tensor) -> Tensor:
    """Cross-entropy of view a's cluster prediction ``logits_a`` [M, K] against view b's
    assignment ``targets_b`` [M, K], and the other way round, averaged over items and views."""
    ce_a = -(targets_b * F.log_softmax(logits_a.float(), -1)).sum(-1)
    ce_b = -(targets_a * F.log_softmax(logits_b.float(), -1)).sum(-1)
    return 0.5 * (ce_a + ce_b).mean()
