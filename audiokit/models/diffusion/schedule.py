"""The forward (noising) process of a DDPM: betas, alpha-bar, q(x_t | x_0), the posterior
q(x_{t-1} | x_t, x_0), and the conversions between what a denoiser may predict.

Notation (Ho et al. 2020): ``alpha_t = 1 - beta_t``, ``alpha_bar_t = prod_{s<=t} alpha_s``,
``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps``. Steps are 0-based: ``t = 0`` is
the first (least) noise, ``t = num_steps - 1`` the last; ``alpha_bar_{-1} = 1``.

Betas:
- ``linear``: evenly spaced from ``beta_start`` to ``beta_end`` (DDPM: 1e-4 .. 0.02, 1,000 steps);
- ``cosine``: ``alpha_bar(t) = f(t) / f(0)``, ``f(t) = cos(((t / T + s) / (1 + s)) pi / 2)^2``
  with ``s = 0.008`` and each beta capped at 0.999 (Nichol & Dhariwal 2021), which destroys
  the signal more evenly over the steps than the linear schedule.

Predictions (``prediction``): ``eps`` (the noise) or ``v = sqrt(alpha_bar) eps -
sqrt(1 - alpha_bar) x_0`` (Salimans & Ho 2022). Either gives ``x_0`` and ``eps`` back from
``x_t`` (:meth:`NoiseSchedule.split`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

KINDS = ("linear", "cosine")
PREDICTIONS = ("eps", "v")


def linear_betas(num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    return torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)


def cosine_betas(num_steps: int, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    steps = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)


class NoiseSchedule(nn.Module):
    """Buffers ``betas``, ``alphas``, ``alpha_bar``, ``alpha_bar_prev`` (all ``[num_steps]``,
    float64: in float32, 1 - alpha_bar near t = 0 loses three digits) and the DDPM operations
    on them; results come in the dtype of the tensors given."""

    def __init__(self, kind: str = "cosine", num_steps: int = 1000, beta_start: float = 1e-4,
                 beta_end: float = 0.02, cosine_s: float = 0.008) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"noise schedule kind must be one of {KINDS}, got {kind!r}")
        if num_steps < 1:
            raise ValueError(f"noise schedule: num_steps must be >= 1, got {num_steps}")
        self.kind, self.num_steps = kind, num_steps
        betas = (linear_betas(num_steps, beta_start, beta_end) if kind == "linear"
                 else cosine_betas(num_steps, cosine_s))
        alpha_bar = torch.cumprod(1 - betas, dim=0)
        alpha_bar_prev = torch.cat([alpha_bar.new_ones(1), alpha_bar[:-1]])
        for name, value in (("betas", betas), ("alphas", 1 - betas), ("alpha_bar", alpha_bar),
                            ("alpha_bar_prev", alpha_bar_prev)):
            self.register_buffer(name, value, persistent=False)

    def at(self, values: Tensor, t: Tensor, like: Tensor) -> Tensor:
        """``values[t]`` (float64) shaped to broadcast over ``like`` ([B] -> [B, 1, ...])."""
        out = values.to(like.device)[t.to(like.device)]
        return out.view(-1, *([1] * (like.dim() - 1)))

    # ---- forward process ------------------------------------------------------------------
    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """A draw of x_t ~ q(x_t | x_0) for the given noise."""
        ab = self.at(self.alpha_bar, t, x0)
        return _as(ab.sqrt(), x0) * x0 + _as((1 - ab).sqrt(), x0) * noise

    def posterior(self, x0: Tensor, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance of q(x_{t-1} | x_t, x_0): ``beta_t sqrt(ab_{t-1}) / (1 - ab_t)
        x_0 + (1 - ab_{t-1}) sqrt(alpha_t) / (1 - ab_t) x_t`` and ``beta_t (1 - ab_{t-1}) /
        (1 - ab_t)`` (0 at t = 0)."""
        beta, alpha = self.at(self.betas, t, xt), self.at(self.alphas, t, xt)
        ab, ab_prev = self.at(self.alpha_bar, t, xt), self.at(self.alpha_bar_prev, t, xt)
        c0 = beta * ab_prev.sqrt() / (1 - ab)
        ct = (1 - ab_prev) * alpha.sqrt() / (1 - ab)
        var = beta * (1 - ab_prev) / (1 - ab)
        return _as(c0, xt) * x0 + _as(ct, xt) * xt, _as(var, xt).expand_as(xt)

    # ---- what the denoiser predicts -------------------------------------------------------
    def target(self, x0: Tensor, noise: Tensor, t: Tensor, prediction: str) -> Tensor:
        """The regression target of a denoiser for ``x_t = q_sample(x0, t, noise)``."""
        check_prediction(prediction)
        if prediction == "eps":
            return noise
        ab = self.at(self.alpha_bar, t, x0)
        return _as(ab.sqrt(), x0) * noise - _as((1 - ab).sqrt(), x0) * x0

    def split(self, output: Tensor, xt: Tensor, t: Tensor, prediction: str,
              clip_x0: float | None = None) -> tuple[Tensor, Tensor]:
        """(x_0, eps) implied by a denoiser ``output`` at ``x_t``. With ``clip_x0``, x_0 is
        clamped to [-clip_x0, clip_x0] and eps recomputed from it (so both stay consistent
        with x_t)."""
        check_prediction(prediction)
        ab = self.at(self.alpha_bar, t, xt)
        a, s = _as(ab.sqrt(), xt), _as((1 - ab).sqrt(), xt)
        if prediction == "eps":
            eps = output
            x0 = (xt - s * eps) / a
        else:
            x0 = a * xt - s * output
            eps = s * xt + a * output
        if clip_x0 is not None:
            x0 = x0.clamp(-clip_x0, clip_x0)
            eps = (xt - a * x0) / s
        return x0, eps


def _as(coef: Tensor, like: Tensor) -> Tensor:
    """A float64 coefficient in the dtype of the tensor it multiplies."""
    return coef.to(like.dtype)


def check_prediction(prediction: str) -> None:
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
