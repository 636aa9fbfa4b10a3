"""GAN discriminators: output shapes, feature lists, and receptive fields measured by
gradients against the formula."""

from __future__ import annotations

import pytest
import torch

from audiokit.models.gan import (
    CombinedDiscriminator,
    MultiPeriodDiscriminator,
    MultiScaleDiscriminator,
    MultiScaleSTFTDiscriminator,
    receptive_field,
)
from audiokit.models.gan.mpd import PeriodDiscriminator
from audiokit.models.gan.msd import ScaleDiscriminator


def support(d, length: int, position: int, row_stride: int = 1) -> tuple[int, int]:
    """First and last input samples with a gradient from one output logit."""
    x = torch.randn(1, length, requires_grad=True)
    logits, _ = d(x)
    logits[0, position].backward()
    nz = torch.nonzero(x.grad[0].abs() > 0).flatten()
    return int(nz.min()), int(nz.max())


def test_receptive_field_formula():
    assert receptive_field([3, 3], [1, 1]) == 5
    assert receptive_field([3, 3], [2, 1]) == 7
    assert receptive_field([3], [1], [4]) == 9


def test_scale_discriminator_receptive_field():
    torch.manual_seed(0)
    d = ScaleDiscriminator(width=0.125)
    rf = d.receptive_field()
    first, last = support(d, 12000, 90)  # an output far from both edges
    assert last - first + 1 == rf


@pytest.mark.parametrize("period", [2, 3])
def test_period_discriminator_receptive_field(period):
    torch.manual_seed(0)
    d = PeriodDiscriminator(period, channels=(4, 8, 8, 8, 8))
    x = torch.randn(1, 3000 * period, requires_grad=True)
    logits, _ = d(x)
    rows = logits.view(1, -1, period)
    rows[0, rows.size(1) // 2, 1].backward()  # one phase column, middle row
    nz = torch.nonzero(x.grad[0].abs() > 0).flatten()
    assert int(nz.max() - nz.min()) + 1 == d.receptive_field()
    assert torch.all((nz % period) == 1)  # only samples of that phase


def test_multi_period_shapes():
    d = MultiPeriodDiscriminator(periods=(2, 3, 5), channels=(4, 8, 8, 8, 8))
    logits, feats = d(torch.randn(2, 1001))
    assert len(logits) == len(feats) == 3
    for p, y, f in zip((2, 3, 5), logits, feats, strict=True):
        assert y.shape[0] == 2 and y.dim() == 2
        assert len(f) == 6
        rows = -(-1001 // p)
        for _ in range(4):
            rows = (rows + 2 * 2 - 5) // 3 + 1
        assert f[-1].shape == (2, 1, rows, p)
        assert y.shape[1] == rows * p


def test_multi_scale_shapes():
    d = MultiScaleDiscriminator(num_scales=3, width=0.125)
    logits, feats = d(torch.randn(2, 4000))
    assert len(logits) == 3 and all(len(f) == 8 for f in feats)
    # each scale halves the input; total stride 64 inside a scale discriminator
    assert [y.shape[1] for y in logits] == [63, 32, 16]


def test_msstft_shapes():
    d = MultiScaleSTFTDiscriminator(n_ffts=(256, 128), filters=4)
    logits, feats = d(torch.randn(2, 4000))
    assert len(logits) == 2 and all(len(f) == 6 for f in feats)
    frames = 1 + (4000 - 256) // 64
    freq = 256 // 2 + 1
    for _ in range(3):
        freq = (freq + 2 * 4 - 9) // 2 + 1
    assert feats[0][-1].shape == (2, 1, frames, freq)
    assert logits[0].shape == (2, frames * freq)


def test_combined_concatenates_in_name_order():
    mpd = MultiPeriodDiscriminator(periods=(2,), channels=(4, 4, 4, 4, 4))
    msd = MultiScaleDiscriminator(num_scales=2, width=0.125)
    d = CombinedDiscriminator({"msd": msd, "mpd": mpd})
    logits, feats = d(torch.randn(1, 2000))
    assert len(logits) == 3 and len(feats[0]) == 6 and len(feats[1]) == 8
