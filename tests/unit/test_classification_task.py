"""The classification task: its training step with SpecAugment and mixup, and validation F1."""

from __future__ import annotations

import pytest
import torch

from audiokit.cli.train import changed_keys
from audiokit.tasks.classification import ClassificationTask


def make_task(**extra) -> ClassificationTask:
    return ClassificationTask(
        labels=["a", "b", "c"],
        frontend={"_target_": "audiokit.frontends.LogMel", "sample_rate": 8000, "n_mels": 20},
        model={"_target_": "audiokit.models.classification.ResNetClassifier",
               "channels": [8, 16], "blocks": [1, 1]},
        loss={"_target_": "torch.nn.CrossEntropyLoss", "label_smoothing": 0.1},
        optim={"_target_": "torch.optim.Adam", "lr": 1e-3},
        **extra,
    )


def batch() -> dict:
    torch.manual_seed(0)
    return {"ids": ["u1", "u2", "u3", "u4"], "audio": torch.randn(4, 4000),
            "audio_lens": torch.tensor([4000, 3000, 2000, 4000]), "label": torch.tensor([0, 1, 2, 1])}


def test_training_step_with_specaugment_and_mixup_backpropagates():
    task = make_task(
        specaugment={"_target_": "audiokit.data.augment.SpecAugment", "freq_width": 4},
        mixup={"_target_": "audiokit.data.augment.Mixup", "alpha": 0.4},
    )
    task.train()
    loss = task.training_step(batch(), 0)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in task.model.parameters() if p.requires_grad)
    assert 0.0 < task.mixup.last_lam <= 1.0


def test_validation_confusion_gives_macro_f1():
    task = make_task()
    task.eval()
    logged = {}
    task.log = lambda name, value, **kw: logged.__setitem__(name, float(value))
    task.all_gather = lambda x: x  # one process: nothing to gather
    b = batch()
    with torch.no_grad():
        task.validation_step(b, 0)
        preds = task(b["audio"], b["audio_lens"]).argmax(-1)
    assert task._valid_confusion.sum() == 4
    task.on_validation_epoch_end()
    from sklearn.metrics import f1_score

    expected = f1_score(b["label"], preds, labels=[0, 1, 2], average="macro", zero_division=0)
    assert logged["valid/macro_f1"] == pytest.approx(expected)
    assert task._valid_confusion.sum() == 0  # reset for the next epoch


def test_changed_keys():
    old = {"a": 1, "b": {"c": 2, "d": 3}}
    assert changed_keys(old, {"a": 1, "b": {"c": 2, "d": 4}, "e": 5}) == ["b.d", "e"]
