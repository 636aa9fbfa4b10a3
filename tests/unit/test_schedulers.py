"""Warm-up schedules against their formulas."""

from __future__ import annotations

import math

import pytest
import torch

from audiokit.optim.schedulers import NoamWarmup, WarmupCosine


def lrs(scheduler_cls, steps, **kwargs):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = scheduler_cls(opt, **kwargs)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_noam_matches_espnet_warmup_lr():
    warmup = 10
    got = lrs(NoamWarmup, 40, warmup_steps=warmup)
    for step, lr in enumerate(got):
        s = max(step, 1)  # step 0 is treated as step 1, as in ESPnet
        expected = 2.0 * warmup**0.5 * min(s**-0.5, s * warmup**-1.5)
        assert lr == pytest.approx(expected)
    assert max(got) == pytest.approx(2.0)  # peak = configured lr, at the end of warm-up
    assert got.index(max(got)) == warmup


def test_cosine_warmup_then_decay():
    got = lrs(WarmupCosine, 101, warmup_steps=10, total_steps=100, min_ratio=0.1)
    assert got[0] == pytest.approx(2.0 * 1 / 10)
    assert got[9] == pytest.approx(2.0)
    mid = 10 + 45
    assert got[mid] == pytest.approx(2.0 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5))))
    assert got[100] == pytest.approx(0.2)


def test_cosine_needs_total_steps():
    with pytest.raises(ValueError, match="total_steps"):
        lrs(WarmupCosine, 1, warmup_steps=10, total_steps=None)


def test_cosine_short_run_clamps_warmup():
    got = lrs(WarmupCosine, 21, warmup_steps=500, total_steps=20)
    assert got[1] == pytest.approx(2.0)  # warm-up shortened to 2 steps
    assert got[20] == pytest.approx(0.0, abs=1e-9)
