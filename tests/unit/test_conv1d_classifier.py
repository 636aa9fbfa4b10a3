"""Conv1dClassifier (the worked example of docs/adding-a-model.md): the formula it computes,
padding invariance, learning a toy task, and its YAML composing into a training config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from audiokit.models.classification.conv1d import Conv1dClassifier

CONF_DIR = str(Path(__file__).resolve().parents[2] / "audiokit" / "conf")


def test_matches_the_formula_on_one_utterance():
    torch.manual_seed(0)
    model = Conv1dClassifier(6, 3, channels=[4], kernel_size=3, dropout=0.0).eval()
    feats = torch.randn(1, 9, 6)
    conv = model.convs[0]
    # By hand: zero-padded conv over time, ReLU, mean over the frames, linear layer.
    hidden = F.conv1d(feats.transpose(1, 2), conv.weight, conv.bias, padding=1).relu()
    expected = hidden.mean(dim=-1) @ model.head.weight.T + model.head.bias
    torch.testing.assert_close(model(feats, torch.tensor([9])), expected)


def test_padding_does_not_change_logits():
    torch.manual_seed(1)
    model = Conv1dClassifier(8, 5, channels=[16, 16], kernel_size=5).eval()
    a, b = torch.randn(1, 20, 8), torch.randn(1, 13, 8)
    batch = torch.zeros(2, 20, 8)
    batch[0], batch[1, :13] = a[0], b[0]
    batch[1, 13:] = 100.0  # garbage in the padding must not leak in
    logits = model(batch, torch.tensor([20, 13]))
    torch.testing.assert_close(logits[0], model(a, torch.tensor([20]))[0])
    torch.testing.assert_close(logits[1], model(b, torch.tensor([13]))[0])


def test_learns_a_toy_task():
    # Class = which half of the bins carries the energy: separable by one conv and a mean.
    torch.manual_seed(2)
    y = torch.randint(0, 2, (64,))
    x = 0.1 * torch.randn(64, 12, 8)
    x[y == 0, :, :4] += 1.0
    x[y == 1, :, 4:] += 1.0
    lens = torch.full((64,), 12)
    model = Conv1dClassifier(8, 2, channels=[8], kernel_size=3, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        F.cross_entropy(model(x, lens), y).backward()
        opt.step()
    with torch.no_grad():
        logits = model(x, lens)
    assert (logits.argmax(-1) == y).all() and F.cross_entropy(logits, y) < 0.05


def test_even_kernel_and_wrong_bins_are_errors():
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        Conv1dClassifier(8, 2, kernel_size=4)
    with pytest.raises(ValueError, match="expected 8 feature bins, got 6"):
        Conv1dClassifier(8, 2)(torch.randn(1, 5, 6), torch.tensor([5]))


def test_config_composes_and_instantiates():
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=cls/fsdd_cnn", "model=conv1d"])
    model = instantiate(cfg.model, input_dim=40, num_classes=10)
    assert isinstance(model, Conv1dClassifier)
    assert model(torch.randn(2, 30, 40), torch.tensor([30, 17])).shape == (2, 10)
