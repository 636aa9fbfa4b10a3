"""EnCodec's loss balancer (Défossez et al. 2022, sec. 3.4).

Losses that reach the generator only through its output ``y`` are combined as gradients on
``y`` instead of as a weighted sum: each loss's gradient ``g_i = d l_i / d y`` is rescaled to
``total_norm * w_i / sum_j w_j * g_i / ema(||g_i||)``, so a weight is the share of the gradient
that the loss gets, whatever the loss's scale. ``ema(||g_i||)`` is an exponential moving
average (``decay``) of the gradient's L2 norm, normalised by its debiasing sum as EnCodec does.
"""

from __future__ import annotations

import torch
from torch import Tensor


class Balancer:
    def __init__(self, weights: dict[str, float], total_norm: float = 1.0, decay: float = 0.999,
                 eps: float = 1e-12) -> None:
        self.weights = dict(weights)
        self.total_norm, self.decay, self.eps = total_norm, decay, eps
        self.norm_sum: dict[str, float] = {}   # sum_k decay^k ||g||_{t-k}
        self.count_sum: dict[str, float] = {}  # sum_k decay^k (debiasing)

    def gradient(self, losses: dict[str, Tensor], y: Tensor) -> tuple[Tensor, dict[str, float]]:
        """The combined gradient on ``y`` (to pass to ``y.backward``) and each loss's
        gradient norm before rescaling."""
        names = [n for n in losses if self.weights.get(n, 0.0) > 0]
        if not names:
            raise ValueError(f"the balancer has no positive weight for any of {sorted(losses)}")
        total_w = sum(self.weights[n] for n in names)
        out = torch.zeros_like(y, dtype=torch.float32)
        norms = {}
        for n in names:
            (g,) = torch.autograd.grad(losses[n], y, retain_graph=True)
            g = g.float()
            norm = float(g.norm())
            norms[n] = norm
            self.norm_sum[n] = self.decay * self.norm_sum.get(n, 0.0) + norm
            self.count_sum[n] = self.decay * self.count_sum.get(n, 0.0) + 1.0
            avg = self.norm_sum[n] / self.count_sum[n]
            out += self.total_norm * self.weights[n] / total_w * g / (avg + self.eps)
        return out.to(y.dtype), norms

    def state_dict(self) -> dict:
        return {"norm_sum": dict(self.norm_sum), "count_sum": dict(self.count_sum)}

    def load_state_dict(self, state: dict) -> None:
        self.norm_sum = dict(state["norm_sum"])
        self.count_sum = dict(state["count_sum"])
