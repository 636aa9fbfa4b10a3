"""Tempogram frontend: a click train's period is where the autocorrelation peaks; padding and
lengths behave like the other frontends."""

from __future__ import annotations

import pytest
import torch

from audiokit.frontends.tempogram import Tempogram

RATE = 16000


def clicks(period_s: float, seconds: float = 6.0, offset_s: float = 0.13) -> torch.Tensor:
    x = torch.zeros(int(seconds * RATE))
    g = torch.Generator().manual_seed(0)
    t = offset_s
    while t < seconds:
        start = int(t * RATE)
        x[start:start + 400] = torch.randn(400, generator=g)[: len(x) - start]
        t += period_s
    return x


@pytest.mark.parametrize("period", [0.45, 0.62, 0.95])
def test_click_train_peaks_at_its_period(period):
    fe = Tempogram(RATE)
    feats, lens = fe.extract(clicks(period)[None], torch.tensor([6 * RATE]))
    assert feats.shape == (1, 14, fe.output_dim) and lens.tolist() == [14]
    mean = feats[0].mean(0)
    lag_s = (fe.min_lag + torch.arange(fe.output_dim)) / 100
    at_period = mean[(lag_s - period).abs().argmin()]
    assert at_period > 0.8 and at_period >= mean.max() - 0.05
    between = (lag_s > 0.3 * period) & (lag_s < 0.7 * period) | (lag_s > 1.3 * period) & (lag_s < 1.7 * period)
    assert mean[between].max() < 0.3  # off the period (and its multiples) it is low


def test_padding_and_lengths():
    fe = Tempogram(RATE)
    x = torch.stack([clicks(0.5), torch.cat([clicks(0.5, 2.0), torch.zeros(4 * RATE)])])
    feats, lens = fe.extract(x, torch.tensor([6 * RATE, 2 * RATE]))
    assert lens.tolist() == [14, 1]  # a short clip: one zero-padded window
    assert torch.all(feats[1, 1:] == 0)
    alone, _ = fe.extract(x[1:, : 2 * RATE], torch.tensor([2 * RATE]))
    assert torch.allclose(alone[0, 0], feats[1, 0], atol=1e-5)
    with pytest.raises(ValueError, match="min_lag_s < max_lag_s"):
        Tempogram(RATE, min_lag_s=1.0, max_lag_s=0.5)
