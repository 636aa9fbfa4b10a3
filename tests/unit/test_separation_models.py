"""Separation models: shapes for any length, gradients, causality, references, parameter counts,
and learning a toy two-source task."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import Tensor, nn

from audiokit.models.separation import (
    DCCRN,
    DPRNN,
    ChannelLayerNorm,
    ConvTasNet,
    CumulativeLayerNorm,
    FilterbankDecoder,
    FilterbankEncoder,
    GlobalLayerNorm,
    SepFormer,
    STFTMaskNet,
    chunk,
    overlap_add,
)
from audiokit.models.separation.dccrn import ComplexConv2d

CONF_DIR = Path(__file__).resolve().parents[2] / "audiokit" / "conf" / "model"


def tiny_conv_tasnet(s: int, **kw: object) -> nn.Module:
    return ConvTasNet(s, num_filters=32, kernel_size=16, bottleneck_channels=16,
                      hidden_channels=32, skip_channels=16, num_blocks=3, num_repeats=2, **kw)


def tiny_dprnn(s: int) -> nn.Module:
    return DPRNN(s, num_filters=16, kernel_size=8, bottleneck_channels=16, hidden_size=16,
                 num_blocks=2, chunk_size=10)


def tiny_sepformer(s: int) -> nn.Module:
    return SepFormer(s, num_filters=16, kernel_size=8, stride=4, d_model=16, num_heads=2,
                     ffn_dim=32, num_layers=1, num_repeats=1, chunk_size=10)


def tiny_dccrn(s: int) -> nn.Module:
    return DCCRN(s, n_fft=64, win_length=48, hop_length=16, channels=(4, 8, 8), rnn_units=16)


def tiny_stft_mask(s: int) -> nn.Module:
    return STFTMaskNet(s, n_fft=64, hop_length=16, hidden_size=16, num_layers=1)


MODELS: dict[str, Callable[[int], nn.Module]] = {
    "conv_tasnet": tiny_conv_tasnet,
    "dprnn": tiny_dprnn,
    "sepformer": tiny_sepformer,
    "dccrn": tiny_dccrn,
    "stft_mask": tiny_stft_mask,
}
FIRST_LAYER = {
    "conv_tasnet": "encoder.conv.weight",
    "dprnn": "encoder.conv.weight",
    "sepformer": "encoder.conv.weight",
    "dccrn": "encoder.0.0.real.weight",
    "stft_mask": "rnn.weight_ih_l0",
}


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def si_snr(est: Tensor, ref: Tensor, eps: float = 1e-8) -> Tensor:
    est, ref = est - est.mean(-1, keepdim=True), ref - ref.mean(-1, keepdim=True)
    proj = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps) * ref
    return 10 * torch.log10(proj.pow(2).sum(-1) / ((est - proj).pow(2).sum(-1) + eps) + eps)


# ---------------------------------------------------------------- interface


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("sources", [1, 2, 3])
def test_output_shape_any_length(name: str, sources: int) -> None:
    torch.manual_seed(0)
    model = MODELS[name](sources)
    for length in (1, 161, 400):  # a single sample, odd, even
        out = model(torch.randn(2, length))
        assert out.shape == (2, sources, length)
        assert out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.parametrize("name", MODELS)
def test_gradient_reaches_first_layer(name: str) -> None:
    torch.manual_seed(0)
    model = MODELS[name](2)
    model(torch.randn(2, 321)).pow(2).mean().backward()
    grad = dict(model.named_parameters())[FIRST_LAYER[name]].grad
    assert grad is not None and grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters())  # nothing unused (DDP-safe)


@pytest.mark.parametrize("name", MODELS)
def test_eval_is_deterministic(name: str) -> None:
    torch.manual_seed(0)
    model = MODELS[name](2).eval()
    x = torch.randn(3, 250)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
        # Batch items are independent in eval mode (no cross-talk through norms or chunking).
        assert torch.allclose(model(x[1:2]), model(x)[1:2], atol=1e-5)


# ---------------------------------------------------------------- building blocks


def test_chunk_overlap_add_is_identity() -> None:
    for frames in (1, 9, 10, 11, 99, 250):
        x = torch.randn(2, 3, frames)
        for size in (2, 5, 10, 100):
            chunks = chunk(x, size)
            assert chunks.shape[:3] == (2, 3, size)
            assert torch.allclose(overlap_add(chunks, frames), x)
    # 50 % overlap: the second half of chunk s is the first half of chunk s + 1.
    chunks = chunk(torch.randn(1, 1, 95), 10)
    assert torch.equal(chunks[..., 5:, :-1], chunks[..., :5, 1:])


def test_filterbank_shapes_exact() -> None:
    enc, dec = FilterbankEncoder(8, 16, 8), FilterbankDecoder(8, 16, 8)
    for length in (1, 8, 15, 16, 17, 1001):
        feats = enc(torch.randn(3, length))
        assert feats.shape == (3, 8, math.ceil(length / 8) + 1)
        assert (feats >= 0).all()
        assert dec(feats, length).shape == (3, length)
        assert dec(feats.unsqueeze(1).expand(3, 2, 8, -1), length).shape == (3, 2, length)


def test_filterbank_delta_basis_reconstructs() -> None:
    # With unit-impulse filters (one per tap) and stride = L, encoder -> decoder is the identity,
    # so the padding and the cropping line up sample-exactly.
    enc = FilterbankEncoder(4, 4, 4, activation="none")
    dec = FilterbankDecoder(4, 4, 4)
    with torch.no_grad():
        enc.conv.weight.copy_(torch.eye(4).unsqueeze(1))
        dec.conv.weight.copy_(torch.eye(4).unsqueeze(1))
    for length in (1, 5, 103):
        x = torch.randn(2, length)
        assert torch.allclose(dec(enc(x), length), x, atol=1e-6)


def test_norms_match_references() -> None:
    x = torch.randn(2, 6, 17)
    assert torch.allclose(GlobalLayerNorm(6)(x), F.group_norm(x, 1, eps=1e-8), atol=1e-5)
    ref = F.layer_norm(x.transpose(1, 2), (6,), eps=1e-8).transpose(1, 2)
    assert torch.allclose(ChannelLayerNorm(6)(x), ref, atol=1e-5)
    cum = CumulativeLayerNorm(6)(x)
    # At frame t the cumulative statistics are the global ones of x[..., : t + 1].
    for t in (0, 5, 16):
        assert torch.allclose(cum[..., t], F.group_norm(x[..., : t + 1], 1, eps=1e-8)[..., t],
                              atol=1e-4)


def test_complex_conv_matches_complex_arithmetic() -> None:
    conv = ComplexConv2d(2, 3, kernel_size=(3, 2), bias=False)
    z = torch.randn(1, 2, 7, 5, dtype=torch.cfloat)
    weight = torch.complex(conv.real.weight, conv.imag.weight)
    ref = F.conv2d(z, weight)
    out = conv(torch.cat([z.real, z.imag], dim=1))
    assert torch.allclose(out, torch.cat([ref.real, ref.imag], dim=1), atol=1e-5)


def test_dccrn_unit_mask_gives_stft_roundtrip() -> None:
    model = tiny_dccrn(1).eval()
    last = model.decoder[-1][0]
    with torch.no_grad():
        for conv in (last.real, last.imag):
            conv.weight.zero_()
        last.real.bias.fill_(0.5)  # mask = (b_r - b_i) + i (b_r + b_i) = 1 + 0i
        last.imag.bias.fill_(-0.5)
    model.mask_type = "C"
    x = torch.randn(2, 333)
    spec = torch.stft(x, 64, 16, 48, model.window, pad_mode="constant", return_complex=True)
    spec[:, 0] = 0  # the model never passes the DC bin
    ref = torch.istft(spec, 64, 16, 48, model.window, length=333)
    assert torch.allclose(model(x)[:, 0], ref, atol=1e-5)


def test_stft_mask_unit_mask_reconstructs() -> None:
    model = STFTMaskNet(1, n_fft=64, hop_length=16, hidden_size=8, mask_activation="relu")
    with torch.no_grad():
        model.proj.weight.zero_()
        model.proj.bias.fill_(1.0)
    x = torch.randn(2, 333)
    assert torch.allclose(model(x)[:, 0], x, atol=1e-5)


# ---------------------------------------------------------------- causality


def test_causal_conv_tasnet_ignores_the_future() -> None:
    torch.manual_seed(0)
    kernel, cut = 16, 300
    x = torch.randn(1, 600)
    y = x.clone()
    y[:, cut:] = torch.randn(1, 300)
    # Output sample t depends on inputs up to t + L - 1 (one encoder frame of latency).
    keep = cut - kernel + 1
    for norm in ("cLN", "cumLN"):
        model = tiny_conv_tasnet(2, causal=True, norm=norm).eval()
        with torch.no_grad():
            assert torch.allclose(model(x)[..., :keep], model(y)[..., :keep], atol=1e-6)
    model = tiny_conv_tasnet(2).eval()  # sanity: the non-causal model does look ahead
    with torch.no_grad():
        assert not torch.allclose(model(x)[..., :keep], model(y)[..., :keep], atol=1e-6)
    with pytest.raises(ValueError, match="causal"):
        ConvTasNet(2, causal=True, norm="gLN")


# ---------------------------------------------------------------- compiled blocks


@pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None,
                    reason="torch.compile on CPU needs a C++ compiler")
@pytest.mark.slow  # compiling takes most of a minute on 2 cores: not in make test-fast
@pytest.mark.parametrize("causal", [False, True])
def test_conv_tasnet_compiled_blocks_equal_eager(causal: bool) -> None:
    torch.manual_seed(0)
    eager = tiny_conv_tasnet(2, causal=causal)
    compiled = tiny_conv_tasnet(2, causal=causal, compile_blocks=True)
    compiled.load_state_dict(eager.state_dict())
    for length, batch in ((800, 3), (1000, 2)):  # the second shape runs the dynamic graph
        x = torch.randn(batch, length)
        grads = []
        for model in (eager, compiled):
            model.zero_grad()
            y = model(x)
            y.pow(2).mean().backward()
            grads.append([y.detach()] + [p.grad.clone() for p in model.parameters()])
        for got, want in zip(grads[1], grads[0], strict=True):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    with torch.no_grad():  # evaluation runs eagerly: bit for bit the same
        assert torch.equal(compiled.eval()(x), eager.eval()(x))


def test_conv_tasnet_compile_without_a_compiler_warns_and_runs_eagerly(monkeypatch) -> None:
    from audiokit.models.separation import conv_tasnet
    monkeypatch.setattr(conv_tasnet.shutil, "which", lambda name: None)
    with pytest.warns(UserWarning, match="C\\+\\+ compiler"):
        model = tiny_conv_tasnet(2, compile_blocks=True)
    assert not any(block.compile_core for block in model.separator.blocks)


def test_dccrn_is_causal_in_frames() -> None:
    torch.manual_seed(0)
    model = tiny_dccrn(1).eval()
    x = torch.randn(1, 640)
    y = x.clone()
    y[:, 400:] = torch.randn(1, 240)
    keep = 400 - 64  # the last frame that sees no changed sample ends a window (n_fft) earlier
    with torch.no_grad():
        assert torch.allclose(model(x)[..., :keep], model(y)[..., :keep], atol=1e-6)


# ---------------------------------------------------------------- parameter counts


PAPER_COUNTS = [
    # (yaml, exact count of our construction, paper figure, relative tolerance)
    ("conv_tasnet", 4_984_881, 5.1e6, 0.03),  # Luo & Mesgarani 2019, Table 2: 5.1 M
    ("dprnn", 2_609_793, 2.6e6, 0.02),  # Luo et al. 2020, Table 1: 2.6 M
    ("sepformer", 25_679_617, 26e6, 0.02),  # Subakan et al. 2021, Table 1: 26 M
    ("dccrn", 3_671_053, 3.7e6, 0.02),  # Hu et al. 2020, Table 1: DCCRN-E 3.7 M
    ("stft_mask", 2_895_876, None, 0.0),  # our own baseline
]


@pytest.mark.parametrize(("name", "exact", "paper", "tol"), PAPER_COUNTS)
def test_yaml_defaults_parameter_counts(
    name: str, exact: int, paper: float | None, tol: float
) -> None:
    cfg = OmegaConf.load(CONF_DIR / f"{name}.yaml")
    with torch.device("meta"):  # no memory, no init: a 26 M model builds instantly
        model = instantiate(cfg)
    assert num_params(model) == exact
    if paper is not None:
        assert abs(exact - paper) / paper < tol


def test_conv_tasnet_small_config_count() -> None:
    # N256 L16 B128 H256 P3 X6 R2: SpeechBrain reports 0.91 M for this size, a network without
    # the skip path; ours without skips is 0.92 M, and 1.29 M with Sc = 128 skip convs.
    with torch.device("meta"):
        no_skip = ConvTasNet(2, 256, 16, 128, 256, 0, 3, 6, 2)
        skip = ConvTasNet(2, 256, 16, 128, 256, 128, 3, 6, 2)
    assert num_params(no_skip) == 923_289
    assert num_params(skip) == 1_285_145


# ---------------------------------------------------------------- learning


def toy_batch(batch: int, length: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Sine (fixed order: first) + low-pass noise burst (second) at 8 kHz."""
    t = torch.arange(length) / 8000.0
    freq = 1500 + 1000 * torch.rand(batch, 1, generator=gen)
    phase = 2 * math.pi * torch.rand(batch, 1, generator=gen)
    sine = 0.5 * torch.sin(2 * math.pi * freq * t + phase)
    noise = torch.randn(batch, 1, length + 15, generator=gen)
    noise = F.conv1d(noise, torch.ones(1, 1, 16) / 4).squeeze(1)  # moving average: low-pass
    start = torch.randint(0, length // 2, (batch, 1), generator=gen)
    burst = ((torch.arange(length) >= start) & (torch.arange(length) < start + length // 2))
    sources = torch.stack([sine, noise * burst], dim=1)
    return sources.sum(1), sources


@pytest.mark.parametrize(
    ("factory", "steps", "lr"),
    [(lambda: tiny_conv_tasnet(2), 40, 3e-3), (lambda: tiny_stft_mask(2), 40, 1e-2)],
    ids=["conv_tasnet", "stft_mask"],
)
def test_learns_toy_separation(factory: Callable[[], nn.Module], steps: int, lr: float) -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = factory()
    test_mix, test_src = toy_batch(8, 1600, gen)

    def score() -> float:
        model.eval()
        with torch.no_grad():
            return si_snr(model(test_mix), test_src).mean().item()

    before = score()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        mix, src = toy_batch(4, 1600, gen)
        loss = -si_snr(model(mix), src).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = score()
    assert after > before + 10.0, (before, after)
