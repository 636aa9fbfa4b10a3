"""Classification metrics against scikit-learn and hand counts; the loss against its formula."""

from __future__ import annotations

import pytest
import torch
from conftest import REPO
from hydra.utils import instantiate
from omegaconf import OmegaConf
from sklearn.metrics import f1_score

from audiokit.metrics.classification import (
    classification_report,
    confusion_counts,
    macro_f1_from_confusion,
    plot_confusion,
)


def test_confusion_counts_by_hand():
    refs = torch.tensor([0, 0, 1, 2, 2, 2])
    preds = torch.tensor([0, 1, 1, 2, 0, 2])
    expected = torch.tensor([[1, 1, 0], [0, 1, 0], [1, 0, 2]], dtype=torch.float32)
    assert torch.equal(confusion_counts(refs, preds, 3), expected)


def test_macro_f1_matches_sklearn_including_absent_class():
    g = torch.Generator().manual_seed(0)
    refs = torch.randint(0, 4, (200,), generator=g)
    preds = torch.where(torch.rand(200, generator=g) < 0.7, refs, torch.randint(0, 4, (200,), generator=g))
    preds[preds == 3] = 2  # class 3 never predicted
    ours = macro_f1_from_confusion(confusion_counts(refs, preds, 5))  # class 4 absent everywhere
    theirs = f1_score(refs, preds, labels=list(range(5)), average="macro", zero_division=0)
    assert float(ours) == pytest.approx(theirs)


def test_report_by_hand(tmp_path):
    refs = ["a", "a", "b", "b", "c"]
    hyps = ["a", "b", "b", "b", "a"]
    r = classification_report(refs, hyps, ["a", "b", "c"])
    assert r["accuracy"] == pytest.approx(3 / 5)
    # a: P=1/2 R=1/2 F=1/2; b: P=2/3 R=1 F=4/5; c: 0
    assert r["macro_f1"] == pytest.approx((0.5 + 0.8 + 0) / 3)
    assert r["per_class"]["b"] == {"precision": pytest.approx(2 / 3), "recall": 1.0,
                                   "f1": pytest.approx(0.8), "support": 2}
    assert r["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    plot_confusion(r["confusion"], ["a", "b", "c"], tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cross_entropy_config_matches_label_smoothing_formula():
    loss_fn = instantiate(OmegaConf.load(REPO / "audiokit/conf/loss/cross_entropy.yaml"))
    eps = loss_fn.label_smoothing
    assert eps == 0.1
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
    target = torch.tensor([0, 1])
    logp = logits.log_softmax(-1)
    k = logits.shape[1]
    # smoothed target: (1 - eps) on the label, eps / K spread over all classes
    expected = -((1 - eps) * logp[[0, 1], target] + eps / k * logp.sum(-1)).mean()
    assert float(loss_fn(logits, target)) == pytest.approx(float(expected), rel=1e-6)
    # soft (mixup) targets: the same formula with the soft distribution
    soft = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.5, 0.5]])
    smoothed = (1 - eps) * soft + eps / k
    assert float(loss_fn(logits, soft)) == pytest.approx(float(-(smoothed * logp).sum(-1).mean()), rel=1e-6)
