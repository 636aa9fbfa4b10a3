"""Speaker embedders: pooling against references, padding invariance, gradients, parameter
counts against the papers, configs, and a tiny ECAPA + AAM-softmax that learns 3 speakers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from audiokit.losses.margin import AAMSoftmax
from audiokit.models.speaker import ECAPATDNN, AttentiveStatsPool, ResNetSpeaker, StatsPool, XVector

CONF_DIR = Path(__file__).resolve().parents[2] / "audiokit" / "conf" / "model"
BINS, EMB = 20, 16


def tiny_xvector() -> nn.Module:
    return XVector(BINS, EMB, channels=(16, 16, 16, 16, 24), segment_dim=16)


def tiny_ecapa() -> nn.Module:
    return ECAPATDNN(BINS, EMB, channels=32, se_channels=8, mfa_channels=48, attention_channels=8)


def tiny_resnet() -> nn.Module:
    return ResNetSpeaker(BINS, EMB, base_width=4, blocks=(1, 1, 1, 1))


MODELS = {"xvector": tiny_xvector, "ecapa": tiny_ecapa, "resnet": tiny_resnet}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def warmed_up(factory) -> nn.Module:
    """A model whose BNs are no longer the identity, so padding that leaks shows up.

    Random BN affine parameters also undo zero-initialised residual branches (ResNet blocks),
    which would otherwise hide a leak at init; a few training-mode passes move the running stats.
    """
    torch.manual_seed(0)
    model = factory()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.normal_(module.bias, std=0.2)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(4, 50, BINS) * 2 + 1, torch.tensor([50, 41, 30, 23]))
    return model.eval()


# ------------------------------------------------------------------------------ pooling
def test_stats_pool_matches_numpy_on_valid_frames():
    torch.manual_seed(0)
    x, lens = torch.randn(3, 5, 12), torch.tensor([12, 7, 1])
    x[1, :, 7:] = float("nan")  # padding must not leak, whatever it holds
    out = StatsPool()(x, lens).numpy()
    for b, n in enumerate(lens.tolist()):
        v = x[b, :, :n].double().numpy()
        std = np.sqrt(np.maximum(v.var(axis=1), 1e-6))
        np.testing.assert_allclose(out[b], np.concatenate([v.mean(axis=1), std]), atol=1e-5)


def test_attentive_pool_with_flat_scores_is_stats_pool():
    """Constant attention scores give uniform weights over valid frames: plain mean and std."""
    torch.manual_seed(1)
    pool = AttentiveStatsPool(6, attention_channels=4).eval()
    nn.init.zeros_(pool.attention_out.weight)
    nn.init.zeros_(pool.attention_out.bias)
    x, lens = torch.randn(3, 6, 10), torch.tensor([10, 4, 7])
    x[1, :, 4:] = 1e6
    torch.testing.assert_close(pool(x, lens), StatsPool()(x, lens))


def test_attentive_pool_weights_are_per_channel_and_ignore_padding():
    torch.manual_seed(2)
    pool = AttentiveStatsPool(6, attention_channels=4, global_context=True).eval()
    x = torch.randn(1, 6, 9)
    padded = torch.cat([x, torch.full((1, 6, 5), 1e4)], dim=-1)
    alone = pool(x, torch.tensor([9]))
    torch.testing.assert_close(pool(padded, torch.tensor([9])), alone)
    # mean lies within each channel's own [min, max]; weights differ between channels
    mean = alone[0, :6]
    assert (mean >= x[0].amin(-1) - 1e-6).all() and (mean <= x[0].amax(-1) + 1e-6).all()
    assert not torch.allclose(mean, x[0].mean(-1), atol=1e-3)


# ------------------------------------------------------------------------------ models
@pytest.mark.parametrize("name", MODELS)
def test_shapes_and_embedding_dim(name):
    model = MODELS[name]().eval()
    assert model.embedding_dim == EMB
    out = model(torch.randn(3, 37, BINS), torch.tensor([37, 20, 9]))
    assert out.shape == (3, EMB) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="feature bins"):
        model(torch.randn(1, 10, BINS + 1), torch.tensor([10]))


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("length", [37, 38])  # odd and even: the ResNet halves time 3 times
def test_padding_does_not_change_embedding(name, length):
    model = warmed_up(MODELS[name])
    torch.manual_seed(3)
    short, long = torch.randn(1, length, BINS), torch.randn(1, 61, BINS)
    batch = torch.cat([torch.cat([short, 1e3 * torch.randn(1, 61 - length, BINS)], 1), long])
    with torch.no_grad():
        alone = model(short, torch.tensor([length]))
        together = model(batch, torch.tensor([length, 61]))
        long_alone = model(long, torch.tensor([61]))
    torch.testing.assert_close(together[0:1], alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(together[1:2], long_alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", MODELS)
def test_eval_is_deterministic(name):
    model = warmed_up(MODELS[name])
    feats, lens = torch.randn(2, 30, BINS), torch.tensor([30, 17])
    with torch.no_grad():
        torch.testing.assert_close(model(feats, lens), model(feats, lens), atol=0, rtol=0)


@pytest.mark.parametrize("name", MODELS)
def test_gradients_reach_first_layer(name):
    torch.manual_seed(4)
    model = MODELS[name]().train()
    head = AAMSoftmax(EMB, 3)
    loss = head(model(torch.randn(4, 30, BINS), torch.tensor([30, 25, 19, 12])),
                torch.tensor([0, 1, 2, 0]))
    loss.backward()
    first = next(p for p in model.parameters() if p.dim() > 1)  # the first conv's weight
    assert torch.isfinite(first.grad).all() and first.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters())


# Exact counts of our implementations; the papers' (rounded) figures are the targets.
PARAM_COUNTS = [
    # ECAPA-TDNN, Desplanques et al. 2020, Table 1: 6.2 M (C=512), 14.7 M (C=1024).
    (lambda: ECAPATDNN(80, 192, channels=512), 6_191_360, 6.2e6),
    (lambda: ECAPATDNN(80, 192, channels=1024), 14_657_728, 14.7e6),
    # x-vector, Snyder et al. 2018: ~4.2-4.6 M depending on the input features and counting.
    (lambda: XVector(24, 512), 4_475_284, 4.4e6),
    (lambda: XVector(30, 512), 4_490_644, 4.4e6),
    # ResNet34 base 32, 256-dim embedding: WeSpeaker's model card reports 6.63 M.
    (lambda: ResNetSpeaker(80, 256, base_width=32, blocks=(3, 4, 6, 3)), 6_634_336, 6.63e6),
]


@pytest.mark.parametrize(("factory", "exact", "published"), PARAM_COUNTS)
def test_parameter_counts(factory, exact, published):
    with torch.device("meta"):  # no memory, no init cost
        count = n_params(factory())
    assert count == exact
    assert abs(count - published) / published < 0.05


@pytest.mark.parametrize(
    ("name", "input_dim", "exact"),
    [("ecapa_tdnn", 80, 6_191_360), ("xvector", 24, 4_475_284),
     ("resnet34_speaker", 80, 6_634_336)],
)
def test_configs_give_published_models(name, input_dim, exact):
    cfg = OmegaConf.load(CONF_DIR / f"{name}.yaml")
    with torch.device("meta"):
        model = instantiate(cfg, input_dim=input_dim)
    assert n_params(model) == exact
    embedding_dims = {"ecapa_tdnn": 192, "xvector": 512, "resnet34_speaker": 256}
    assert model.embedding_dim == embedding_dims[name]
    assert f"{exact / 1e6:.2f} M" in (CONF_DIR / f"{name}.yaml").read_text()


# ------------------------------------------------------------------------------ learning
def test_tiny_ecapa_with_aam_learns_three_speakers():
    torch.manual_seed(0)
    speakers, per_speaker, frames = 3, 8, 40
    means = 0.7 * torch.randn(speakers, BINS)
    labels = torch.arange(speakers).repeat_interleave(per_speaker)
    lens = torch.randint(20, frames + 1, (len(labels),))
    feats = means[labels].unsqueeze(1) + torch.randn(len(labels), frames, BINS)
    model = ECAPATDNN(BINS, EMB, channels=32, se_channels=8, mfa_channels=48,
                      attention_channels=8)
    head = AAMSoftmax(EMB, speakers, margin=0.2, scale=30.0)
    opt = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=3e-3)
    for _ in range(40):
        model.train()
        loss = head(model(feats, lens), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = (head.logits(model(feats, lens)).argmax(-1) == labels).float().mean()
    assert accuracy >= 0.95, f"train accuracy {accuracy:.2f}, last loss {loss.item():.3f}"
