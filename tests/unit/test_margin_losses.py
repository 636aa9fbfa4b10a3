"""Margin heads: logits against the published formulas (numpy), sub-centers, loss, configs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf

from audiokit.losses.margin import AAMSoftmax, AMSoftmax, SoftmaxHead

CONF_DIR = Path(__file__).resolve().parents[2] / "audiokit" / "conf" / "loss"
DIM, CLASSES = 8, 5


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _np_cos(head, emb: torch.Tensor) -> np.ndarray:
    """Cosines by hand in float64: [B, K * C] -> [B, K, C] -> max over the K sub-centers."""
    w = _unit(head.weight.detach().double().numpy())
    cos = _unit(emb.double().numpy()) @ w.T
    return cos.reshape(len(emb), head.sub_centers, CLASSES).max(axis=1)


def _batch(head, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random embeddings plus some anti-aligned with their label's center (theta near pi)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, CLASSES, (12,), generator=g)
    emb = torch.randn(12, DIM, generator=g)
    w = head.weight.detach()[: CLASSES]  # sub-center 0 of every class
    emb[:4] = -3.0 * w[labels[:4]] + 0.05 * torch.randn(4, DIM, generator=g)
    emb[4:6] = 2.0 * w[labels[4:6]] + 0.05 * torch.randn(2, DIM, generator=g)  # theta near 0
    return emb, labels


def _aam_reference(cos: np.ndarray, labels: np.ndarray, m: float, s: float,
                   easy: bool = False) -> np.ndarray:
    theta = np.arccos(np.clip(cos, -1, 1))
    out = cos.copy()
    for i, y in enumerate(labels):
        c, t = cos[i, y], theta[i, y]
        if easy:
            out[i, y] = math.cos(t + m) if c > 0 else c
        else:
            out[i, y] = math.cos(t + m) if t + m <= math.pi else c - m * math.sin(m)
    return s * out


@pytest.mark.parametrize("margin", [0.2, 0.5])
def test_aam_logits_match_formula_both_branches(margin):
    torch.manual_seed(0)
    head = AAMSoftmax(DIM, CLASSES, margin=margin, scale=30.0)
    emb, labels = _batch(head)
    cos = _np_cos(head, emb)
    theta_target = np.arccos(cos[np.arange(12), labels.numpy()])
    assert (theta_target + margin > math.pi).sum() >= 3  # the fallback branch is exercised
    assert (theta_target + margin < math.pi).sum() >= 3
    expected = _aam_reference(cos, labels.numpy(), margin, 30.0)
    np.testing.assert_allclose(head.logits(emb, labels).detach().numpy(), expected, atol=1e-4)


def test_aam_easy_margin():
    torch.manual_seed(1)
    head = AAMSoftmax(DIM, CLASSES, margin=0.3, scale=16.0, easy_margin=True)
    emb, labels = _batch(head, seed=1)
    expected = _aam_reference(_np_cos(head, emb), labels.numpy(), 0.3, 16.0, easy=True)
    np.testing.assert_allclose(head.logits(emb, labels).detach().numpy(), expected, atol=1e-4)


def test_am_logits_match_formula():
    torch.manual_seed(2)
    head = AMSoftmax(DIM, CLASSES, margin=0.35, scale=20.0)
    emb, labels = _batch(head, seed=2)
    cos = _np_cos(head, emb)
    expected = 20.0 * (cos - 0.35 * np.eye(CLASSES)[labels.numpy()])
    np.testing.assert_allclose(head.logits(emb, labels).detach().numpy(), expected, atol=1e-4)


@pytest.mark.parametrize("cls", [AAMSoftmax, AMSoftmax])
def test_sub_centers_take_max_over_k(cls):
    torch.manual_seed(3)
    head = cls(DIM, CLASSES, margin=0.2, scale=30.0, sub_centers=3)
    assert head.weight.shape == (3 * CLASSES, DIM)
    emb, labels = _batch(head, seed=3)
    cos = _np_cos(head, emb)
    # the max is over sub-centers, not just sub-center 0: some rows must pick another one
    w = _unit(head.weight.detach().double().numpy())
    first = _unit(emb.double().numpy()) @ w[:CLASSES].T
    assert (cos > first + 1e-6).any()
    if cls is AAMSoftmax:
        expected = _aam_reference(cos, labels.numpy(), 0.2, 30.0)
    else:
        expected = 30.0 * (cos - 0.2 * np.eye(CLASSES)[labels.numpy()])
    np.testing.assert_allclose(head.logits(emb, labels).detach().numpy(), expected, atol=1e-4)
    np.testing.assert_allclose(head.logits(emb).detach().numpy(), 30.0 * cos, atol=1e-4)


@pytest.mark.parametrize("cls", [AAMSoftmax, AMSoftmax, SoftmaxHead])
def test_loss_is_cross_entropy_of_logits(cls):
    torch.manual_seed(4)
    head = cls(DIM, CLASSES)
    emb, labels = _batch(head if cls is not SoftmaxHead else AMSoftmax(DIM, CLASSES), seed=4)
    expected = F.cross_entropy(head.logits(emb, labels), labels)
    torch.testing.assert_close(head(emb, labels), expected)


def test_softmax_head_is_plain_linear():
    torch.manual_seed(5)
    head = SoftmaxHead(DIM, CLASSES)
    emb = torch.randn(6, DIM)
    torch.testing.assert_close(head.logits(emb), emb @ head.linear.weight.T + head.linear.bias)
    assert not hasattr(head, "margin")  # MarginSchedule refuses it loudly


def test_zero_margin_is_normalised_softmax():
    torch.manual_seed(6)
    aam = AAMSoftmax(DIM, CLASSES, margin=0.0, scale=10.0)
    am = AMSoftmax(DIM, CLASSES, margin=0.0, scale=10.0)
    am.weight.data.copy_(aam.weight.data)
    emb, labels = _batch(aam, seed=6)
    plain = 10.0 * F.normalize(emb, dim=-1) @ F.normalize(aam.weight, dim=-1).T
    torch.testing.assert_close(aam.logits(emb, labels), plain, atol=1e-5, rtol=0)
    torch.testing.assert_close(am.logits(emb, labels), plain, atol=1e-5, rtol=0)
    torch.testing.assert_close(aam(emb, labels), F.cross_entropy(plain, labels), atol=1e-5, rtol=0)


def test_margin_is_settable():
    torch.manual_seed(7)
    head = AAMSoftmax(DIM, CLASSES, margin=0.0, scale=30.0)
    emb, labels = _batch(head, seed=7)
    before = head(emb, labels)
    head.margin = 0.4
    expected = _aam_reference(_np_cos(head, emb), labels.numpy(), 0.4, 30.0)
    np.testing.assert_allclose(head.logits(emb, labels).detach().numpy(), expected, atol=1e-4)
    assert head(emb, labels) > before  # a margin makes the target harder


def test_gradient_finite_at_exact_alignment():
    """cos = +-1 exactly would make d sqrt(1 - cos^2) infinite without the clamp."""
    head = AAMSoftmax(DIM, CLASSES, margin=0.2, scale=30.0)
    labels = torch.tensor([0, 1])
    emb = torch.stack([head.weight.detach()[0], -head.weight.detach()[1]]).requires_grad_(True)
    head(emb, labels).backward()
    assert torch.isfinite(emb.grad).all() and torch.isfinite(head.weight.grad).all()


def test_autocast_keeps_cosines_in_float32():
    torch.manual_seed(8)
    head = AAMSoftmax(DIM, CLASSES, margin=0.2, scale=30.0)
    emb, labels = _batch(head, seed=8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = head.logits(emb.bfloat16(), labels)
    assert logits.dtype == torch.float32
    torch.testing.assert_close(logits, head.logits(emb.bfloat16().float(), labels))


def test_bad_arguments():
    with pytest.raises(ValueError, match="sub_centers"):
        AAMSoftmax(DIM, CLASSES, sub_centers=0)
    with pytest.raises(ValueError, match="scale"):
        AMSoftmax(DIM, CLASSES, scale=0.0)


@pytest.mark.parametrize(
    ("name", "cls", "margin"),
    [("aam_softmax", AAMSoftmax, 0.2), ("am_softmax", AMSoftmax, 0.2),
     ("softmax_speaker", SoftmaxHead, None)],
)
def test_configs_instantiate(name, cls, margin):
    cfg = OmegaConf.load(CONF_DIR / f"{name}.yaml")
    head = instantiate(cfg, embedding_dim=DIM, num_classes=CLASSES)
    assert type(head) is cls and head.num_classes == CLASSES
    if margin is not None:
        assert head.margin == margin and head.scale == 30.0 and head.sub_centers == 1
