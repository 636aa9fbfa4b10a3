"""Classification models: shapes, padding invariance, masking helpers, learning, configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from audiokit.models.classification import ASTClassifier, ResNetClassifier
from audiokit.utils.masking import lengths_to_mask, masked_mean

CONF_DIR = Path(__file__).resolve().parents[2] / "audiokit" / "conf" / "model"
BINS = 40


def small_resnet(num_classes: int = 4) -> nn.Module:
    return ResNetClassifier(BINS, num_classes, channels=(8, 16), blocks=(1, 1), max_pool=True)


def small_ast(num_classes: int = 4) -> nn.Module:
    # Overlapping patches that do not tile 40 bins exactly, to exercise both kinds of padding.
    return ASTClassifier(
        BINS,
        num_classes,
        patch_size=(12, 6),
        patch_stride=(8, 4),
        d_model=32,
        num_layers=2,
        num_heads=2,
        ffn_dim=64,
        max_frames=128,
    )


def small_resnet_freq_stride(num_classes: int = 4) -> nn.Module:
    return ResNetClassifier(BINS, num_classes, channels=(8, 16), blocks=(1, 1), stem_freq_stride=2)


MODELS = {"resnet": small_resnet, "resnet_freq_stride": small_resnet_freq_stride, "ast": small_ast}


def randomize_batch_norm(model: nn.Module) -> None:
    """Give BN non-trivial statistics, as after training, so padding would turn non-zero."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1.0, 1.0)
            module.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, -1.0, 1.0)


def test_lengths_to_mask() -> None:
    lens = torch.tensor([2, 0, 3])
    expected = torch.tensor(
        [[True, True, False, False], [False, False, False, False], [True, True, True, False]]
    )
    assert torch.equal(lengths_to_mask(lens, 4), expected)
    assert torch.equal(lengths_to_mask(lens), expected[:, :3])


def test_masked_mean() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [1.0, 1.0, 1.0, 1.0]])
    mask = torch.tensor(
        [[True, True, False, False], [True, True, True, True], [False, False, False, False]]
    )
    assert torch.allclose(masked_mean(x, mask, dim=1), torch.tensor([1.5, 6.5, 0.0]))
    # A [B, 1, T] mask broadcasts over channels; inf/NaN in padding must not leak in.
    x3 = torch.stack([x, 10 * x], dim=1)
    x3[0, :, 3] = float("nan")
    x3[2, :, :] = float("inf")
    out = masked_mean(x3, mask.unsqueeze(1), dim=-1)
    assert torch.equal(out, torch.tensor([[1.5, 15.0], [6.5, 65.0], [0.0, 0.0]]))


@pytest.mark.parametrize("name", MODELS)
def test_output_shape(name: str) -> None:
    torch.manual_seed(0)
    model = MODELS[name](num_classes=7)
    logits = model(torch.randn(3, 50, BINS), torch.tensor([50, 20, 9]))
    assert logits.shape == (3, 7)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", MODELS)
def test_padding_does_not_change_logits(name: str) -> None:
    torch.manual_seed(0)
    model = MODELS[name]()
    randomize_batch_norm(model)
    model.eval()
    lens = torch.tensor([3, 97, 18, 41, 1, 64])
    # Junk rather than zeros in the padding, and padded past the longest utterance:
    # the models must ignore whatever lies beyond each length.
    feats = torch.randn(len(lens), 110, BINS)
    with torch.no_grad():
        batched = model(feats, lens)
        for i, length in enumerate(lens.tolist()):
            alone = model(feats[i : i + 1, :length], lens[i : i + 1])
            torch.testing.assert_close(batched[i : i + 1], alone, atol=1e-5, rtol=0)


def toy_task(num_classes: int = 4, per_class: int = 16) -> tuple[torch.Tensor, ...]:
    """Class k = a band of energy at bins 10k..10k+5 over valid frames, plus noise."""
    labels = torch.arange(num_classes).repeat(per_class)
    lens = torch.randint(15, 61, (len(labels),))
    feats = 0.5 * torch.randn(len(labels), 60, BINS)
    for i, (label, length) in enumerate(zip(labels.tolist(), lens.tolist(), strict=True)):
        feats[i, :length, 10 * label : 10 * label + 5] += 1.5
        feats[i, length:] = 0.0
    return feats, lens, labels


@pytest.mark.parametrize(("name", "lr"), [("resnet", 3e-3), ("ast", 1e-3)])
def test_model_learns_toy_task(name: str, lr: float) -> None:
    torch.manual_seed(0)
    feats, lens, labels = toy_task()
    model = MODELS[name]()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(100):
        loss = nn.functional.cross_entropy(model(feats, lens), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(feats, lens).argmax(-1) == labels).float().mean().item()
    assert accuracy >= 0.95


@pytest.mark.parametrize("config", ["resnet.yaml", "ast.yaml"])
def test_config_instantiates(config: str) -> None:
    model = instantiate(OmegaConf.load(CONF_DIR / config), input_dim=80, num_classes=10)
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 120, 80), torch.tensor([120, 37]))
    assert logits.shape == (2, 10)


def test_ast_sees_every_valid_frame() -> None:
    # 41 frames do not tile into 6-frame patches at stride 4: the last frame must still count.
    torch.manual_seed(0)
    model = small_ast().eval()
    feats, lens = torch.randn(1, 41, BINS), torch.tensor([41])
    changed = feats.clone()
    changed[0, -1] += 1.0
    with torch.no_grad():
        assert not torch.allclose(model(feats, lens), model(changed, lens))


def test_ast_rejects_too_long_input() -> None:
    model = ASTClassifier(BINS, 4, d_model=32, num_layers=1, num_heads=2, ffn_dim=64, max_frames=32)
    with pytest.raises(ValueError, match=r"40 frames.*max_frames=32"):
        model(torch.randn(1, 40, BINS), torch.tensor([40]))
