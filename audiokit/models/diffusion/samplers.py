"""Reverse processes: DDPM ancestral sampling and DDIM (Song et al. 2021) on a step subset.

A sampler calls ``denoise(x_t, t)`` (``t``: ``[B]`` step indices) for the denoiser's output
(``prediction``: eps or v, see :mod:`.schedule`) and starts from ``x_T ~ N(0, I)``.

- :func:`ddpm_sample`: every step, ``x_{t-1} ~ q(x_{t-1} | x_t, x_0 = x0_hat)`` with the
  posterior variance ``beta~_t`` (Ho et al. 2020).
- :func:`ddim_sample`: the steps ``tau`` (``steps`` evenly spaced ones by default, or any
  increasing subset), ``x_prev = sqrt(ab_prev) x0_hat + sqrt(1 - ab_prev - sigma^2) eps_hat +
  sigma z`` with ``sigma = eta sqrt((1 - ab_prev) / (1 - ab_t)) sqrt(1 - ab_t / ab_prev)``.
  ``eta = 0``: deterministic. With every step and ``eta = 1``, ``sigma^2 = beta~_t`` and the
  mean equals the DDPM posterior mean, so DDIM *is* DDPM ancestral sampling: the same noise
  draws give the same samples (the unit tests check this and that both reach the data
  distribution).

Noise: ``generator`` is one ``torch.Generator`` for the whole batch, or one per batch item
(then each item's draws do not depend on the others in its batch), or None (global RNG). Both
samplers draw the start and one normal per step (the last one multiplied by zero), so DDPM and
full-step DDIM consume the same random numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from audiokit.models.diffusion.schedule import NoiseSchedule

Denoise = Callable[[Tensor, Tensor], Tensor]
Generators = torch.Generator | Sequence[torch.Generator] | None


def randn(shape: Sequence[int], generator: Generators, device: torch.device | str = "cpu",
          dtype: torch.dtype = torch.float32) -> Tensor:
    """Standard normal ``shape``; with a list of generators, item ``b`` from generator ``b``."""
    if generator is None or isinstance(generator, torch.Generator):
        return torch.randn(tuple(shape), generator=generator, dtype=dtype,
                           device=generator.device if generator is not None else "cpu").to(device)
    if len(generator) != shape[0]:
        raise ValueError(f"{len(generator)} generators for a batch of {shape[0]}")
    return torch.stack([torch.randn(tuple(shape[1:]), generator=g, dtype=dtype, device=g.device)
                        for g in generator]).to(device)


def ddim_timesteps(num_train_steps: int, steps: int) -> list[int]:
    """``steps`` step indices evenly spread over ``0 .. num_train_steps - 1`` (both ends in),
    increasing; ``steps = num_train_steps`` is every step."""
    if not 1 <= steps <= num_train_steps:
        raise ValueError(f"DDIM steps must be in 1..{num_train_steps}, got {steps}")
    if steps == 1:
        return [num_train_steps - 1]
    grid = torch.linspace(0, num_train_steps - 1, steps, dtype=torch.float64).round().long()
    return sorted(set(grid.tolist()))


def _full(t: int, like: Tensor) -> Tensor:
    return torch.full((like.shape[0],), t, dtype=torch.long, device=like.device)


@torch.no_grad()
def ddpm_sample(denoise: Denoise, schedule: NoiseSchedule, shape: Sequence[int], *,
                prediction: str = "eps", generator: Generators = None,
                clip_x0: float | None = None, device: torch.device | str = "cpu",
                dtype: torch.dtype = torch.float32, x_T: Tensor | None = None) -> Tensor:
    """DDPM ancestral sampling over all ``schedule.num_steps`` steps; returns x_0."""
    x = randn(shape, generator, device, dtype) if x_T is None else x_T.to(device, dtype)
    for t in reversed(range(schedule.num_steps)):
        tt = _full(t, x)
        x0, _ = schedule.split(denoise(x, tt), x, tt, prediction, clip_x0)
        mean, var = schedule.posterior(x0, x, tt)
        x = mean + var.sqrt() * randn(shape, generator, device, dtype)
    return x


@torch.no_grad()
def ddim_sample(denoise: Denoise, schedule: NoiseSchedule, shape: Sequence[int], *,
                steps: int = 50, eta: float = 0.0, timesteps: Sequence[int] | None = None,
                prediction: str = "eps", generator: Generators = None,
                clip_x0: float | None = None, device: torch.device | str = "cpu",
                dtype: torch.dtype = torch.float32, x_T: Tensor | None = None) -> Tensor:
    """DDIM over ``timesteps`` (increasing step indices; default :func:`ddim_timesteps` of
    ``steps``), stochasticity ``eta`` (0: deterministic, 1: DDPM-like); returns x_0."""
    if eta < 0:
        raise ValueError(f"DDIM eta must be >= 0, got {eta}")
    taus = list(timesteps) if timesteps is not None else ddim_timesteps(schedule.num_steps, steps)
    if not taus or taus != sorted(set(taus)) or taus[0] < 0 or taus[-1] >= schedule.num_steps:
        raise ValueError(f"DDIM timesteps must be increasing step indices in "
                         f"0..{schedule.num_steps - 1}, got {taus[:5]}...")
    x = randn(shape, generator, device, dtype) if x_T is None else x_T.to(device, dtype)
    alpha_bar = schedule.alpha_bar.to(torch.float64)
    for i in reversed(range(len(taus))):
        t = taus[i]
        ab = float(alpha_bar[t])
        ab_prev = float(alpha_bar[taus[i - 1]]) if i > 0 else 1.0
        tt = _full(t, x)
        x0, eps = schedule.split(denoise(x, tt), x, tt, prediction, clip_x0)
        sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)) ** 0.5
        direction = max(1 - ab_prev - sigma**2, 0.0) ** 0.5
        x = ab_prev**0.5 * x0 + direction * eps + sigma * randn(shape, generator, device, dtype)
    return x
