"""GAN losses against their formulas on known values; the spectral losses against by-hand
computations; EnCodec's balancer against its definition."""

from __future__ import annotations

import math

import pytest
import torch

from audiokit.losses.balancer import Balancer
from audiokit.losses.gan import (
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from audiokit.losses.spectral import MelDistance, MelL1Loss, MultiScaleSpectralLoss

REAL = [torch.tensor([[0.5, 1.5]]), torch.tensor([[2.0]])]
FAKE = [torch.tensor([[-0.5, 0.25]]), torch.tensor([[0.0]])]


def test_lsgan_discriminator_and_generator():
    # (1-0.5)^2, (1-1.5)^2 -> 0.25; (0.25+0.0625)/2; (1-2)^2 = 1; 0
    expected = 0.25 + (0.25 + 0.0625) / 2 + 1.0 + 0.0
    assert discriminator_loss(REAL, FAKE, "lsgan").item() == pytest.approx(expected)
    # mean((1-f)^2): (2.25 + 0.5625)/2 + 1
    assert generator_adversarial_loss(FAKE, "lsgan").item() == pytest.approx(2.8125 / 2 + 1)


def test_hinge_discriminator_and_generator():
    # relu(1-r): 0.5, 0 -> 0.25; relu(1+f): 0.5, 1.25 -> 0.875; relu(1-2) = 0; relu(1+0) = 1
    expected = 0.25 + 0.875 + 0.0 + 1.0
    assert discriminator_loss(REAL, FAKE, "hinge").item() == pytest.approx(expected)
    # relu(1-f): 1.5, 0.75 -> 1.125; 1
    assert generator_adversarial_loss(FAKE, "hinge").item() == pytest.approx(2.125)


def test_unknown_adversarial_kind():
    with pytest.raises(ValueError, match="lsgan"):
        discriminator_loss(REAL, FAKE, "wgan")


def test_feature_matching():
    real = [[torch.tensor([1.0, -2.0]), torch.tensor([[4.0]])]]
    fake = [[torch.tensor([0.0, 0.0]), torch.tensor([[2.0]])]]
    assert feature_matching_loss(real, fake).item() == pytest.approx(1.5 + 2.0)
    # relative: (1.5 / 1.5 + 2 / 4) / 2 layers
    assert feature_matching_loss(real, fake, relative=True).item() == pytest.approx(0.75)


def test_feature_matching_no_gradient_to_real():
    r = torch.ones(3, requires_grad=True)
    f = torch.zeros(3, requires_grad=True)
    feature_matching_loss([[r]], [[f]]).backward()
    assert r.grad is None and f.grad is not None


def test_mel_l1_against_by_hand():
    torch.manual_seed(0)
    x, y = torch.randn(2, 4000), torch.randn(2, 4000)
    loss = MelL1Loss(8000, n_ffts=(256, 512), n_mels=(40, 80))
    expected = 0.0
    for mel in loss.mels:
        expected += (torch.log(mel(x) + 1e-5) - torch.log(mel(y) + 1e-5)).abs().mean() / 2
    assert loss(x, y).item() == pytest.approx(expected.item(), rel=1e-5)
    assert loss(x, x).item() == 0.0
    assert MelDistance(8000)(x, x).item() == 0.0


def test_multiscale_spectral_against_by_hand():
    torch.manual_seed(0)
    x, y = torch.randn(1, 4000), torch.randn(1, 4000)
    loss = MultiScaleSpectralLoss(8000, n_ffts=(128, 256), n_mels=32, alpha=0.5)
    expected = 0.0
    for mel in loss.mels:
        a, b = mel(x), mel(y)
        l2 = math.sqrt(((torch.log(a + 1e-5) - torch.log(b + 1e-5)) ** 2).mean().item())
        expected += ((a - b).abs().mean().item() + 0.5 * l2) / 2
    assert loss(x, y).item() == pytest.approx(expected, rel=1e-5)


def test_balancer_gradient_shares():
    y = torch.tensor([1.0, 2.0], requires_grad=True)
    losses = {"a": (y * 3).sum(), "b": (y ** 2).sum()}  # grads (3, 3) and (2, 4)
    bal = Balancer({"a": 1.0, "b": 3.0}, total_norm=2.0, decay=0.5)
    grad, norms = bal.gradient(losses, y)
    ga, gb = torch.tensor([3.0, 3.0]), torch.tensor([2.0, 4.0])
    assert norms["a"] == pytest.approx(ga.norm().item())
    # first step: the averaged norm is the norm itself
    expected = 2.0 * (0.25 * ga / ga.norm() + 0.75 * gb / gb.norm())
    torch.testing.assert_close(grad, expected)
    # second step: ema = (0.5 * n1 + n2) / (0.5 + 1)
    y2 = torch.tensor([1.0, 2.0], requires_grad=True)
    grad2, _ = bal.gradient({"a": (y2 * 6).sum(), "b": (y2 ** 2).sum()}, y2)
    na = (0.5 * ga.norm() + 2 * ga.norm()) / 1.5
    exp_a = 2.0 * 0.25 * 2 * ga / na
    exp_b = 2.0 * 0.75 * gb / gb.norm()
    torch.testing.assert_close(grad2, exp_a + exp_b)
