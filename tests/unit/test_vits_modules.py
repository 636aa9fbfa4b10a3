"""VITS's parts: the coupling flow inverts exactly, relative attention ignores padding, the
duration predictors' shapes and NLL (against the formula at initialisation), the alignment
scores against a direct Gaussian log-density, durations -> hard path."""

import math

import pytest
import torch

from audiokit.models.tts.vits.coupling_flow import ResidualCouplingFlow
from audiokit.models.tts.vits.duration_predictor import (
    DurationPredictor,
    StochasticDurationPredictor,
)
from audiokit.models.tts.vits.relative_attention import RelativeSelfAttention
from audiokit.models.tts.vits.text_encoder import TextEncoder
from audiokit.models.tts.vits.vits import alignment_scores, intersperse_blank, path_from_durations

pytestmark = pytest.mark.usefixtures("one_thread")


def _randomise(module: torch.nn.Module) -> None:
    """Zero-initialised output layers make a fresh flow the identity: give every weight noise."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))


@pytest.mark.parametrize("cond", [0, 8])
def test_coupling_flow_is_invertible(cond):
    flow = ResidualCouplingFlow(6, hidden=16, kernel=5, layers=2, flows=3, cond_channels=cond)
    _randomise(flow)
    x = torch.randn(2, 6, 20)
    mask = (torch.arange(20)[None] < torch.tensor([20, 13])[:, None])[:, None].float()
    x = x * mask
    g = torch.randn(2, cond, 1) if cond else None
    z = flow(x, mask, g)
    assert (z - x).abs().max() > 0.1          # it does transform
    back = flow(z, mask, g, reverse=True)
    torch.testing.assert_close(back, x, atol=1e-5, rtol=1e-5)
    assert z[1, :, 13:].abs().max() == 0      # padding stays zero


def test_relative_attention_ignores_padding():
    torch.manual_seed(0)
    attn = RelativeSelfAttention(8, heads=2, window=2).eval()
    x = torch.randn(1, 8, 5)
    padded = torch.cat([x, 100 * torch.randn(1, 8, 4)], dim=2)   # garbage in the padding
    y = attn(x, torch.ones(1, 1, 5))
    y_pad = attn(padded, torch.cat([torch.ones(1, 1, 5), torch.zeros(1, 1, 4)], dim=2))
    torch.testing.assert_close(y_pad[..., :5], y, atol=1e-5, rtol=1e-5)


def test_relative_positions_are_clipped_to_the_window():
    attn = RelativeSelfAttention(4, heads=1, window=2)
    assert attn._offsets(5, "cpu").tolist()[0] == [2, 3, 4, 4, 4]
    assert attn._offsets(5, "cpu").tolist()[4] == [0, 0, 0, 1, 2]


def test_text_encoder_padding_does_not_change_real_positions():
    torch.manual_seed(0)
    enc = TextEncoder(12, 6, hidden=16, ffn_hidden=32, heads=2, layers=2).eval()
    tokens = torch.tensor([[3, 4, 5, 6, 0, 0, 0], [3, 4, 5, 6, 7, 8, 9]])
    x, mean, log_std, mask = enc(tokens, torch.tensor([4, 7]))
    alone = enc(tokens[:1, :4], torch.tensor([4]))
    torch.testing.assert_close(mean[:1, :, :4], alone[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(x[:1, :, :4], alone[0], atol=1e-5, rtol=1e-5)
    assert mask[0, 0].tolist() == [1, 1, 1, 1, 0, 0, 0]
    assert mean[0, :, 4:].abs().max() == 0


def test_stochastic_duration_predictor_nll_matches_the_formula_at_init():
    """Fresh flows are the identity (zero-initialised couplings, unit affine), so the bound is
    -log N(log(d - u), noise_1) + log(d - u) [Jacobian] + log q(u) with u = sigmoid(noise_0)."""
    torch.manual_seed(0)
    sdp = StochasticDurationPredictor(8, hidden=16, flows=2).eval()
    x = torch.randn(2, 8, 5)
    mask = (torch.arange(5)[None] < torch.tensor([5, 3])[:, None])[:, None].float()
    d = torch.tensor([[[1.0, 3, 2, 5, 1]], [[2.0, 2, 4, 0, 0]]])
    torch.manual_seed(7)
    nll = sdp(x, mask, d)
    torch.manual_seed(7)
    noise = torch.randn(2, 2, 5) * mask
    u = torch.sigmoid(noise[:, :1])
    log_d = torch.log((d - u).clamp(min=1e-5)) * mask
    log2pi = math.log(2 * math.pi)
    log_q = (-0.5 * (log2pi + noise ** 2) * mask).sum([1, 2]) - (
        (torch.nn.functional.logsigmoid(noise[:, :1]) + torch.nn.functional.logsigmoid(-noise[:, :1])) * mask
    ).sum([1, 2])
    log_p = (-0.5 * (2 * log2pi + log_d ** 2 + noise[:, 1:] ** 2) * mask).sum([1, 2]) - log_d.sum([1, 2])
    torch.testing.assert_close(nll, log_q - log_p, atol=1e-4, rtol=1e-4)
    assert nll.shape == (2,) and torch.isfinite(nll).all()


@pytest.mark.parametrize("cls", [StochasticDurationPredictor, DurationPredictor])
def test_duration_predictors_train_and_sample(cls):
    torch.manual_seed(0)
    dp = cls(8, hidden=16, cond_channels=4)
    x, g = torch.randn(2, 8, 6), torch.randn(2, 4, 1)
    mask = (torch.arange(6)[None] < torch.tensor([6, 4])[:, None])[:, None].float()
    d = torch.randint(1, 6, (2, 1, 6)).float() * mask
    loss = dp(x, mask, d, g)
    assert loss.shape == (2,) and torch.isfinite(loss).all()
    loss.sum().backward()
    assert all(p.grad is not None for p in dp.parameters() if p.requires_grad)
    log_d = dp.eval()(x, mask, g=g, reverse=True, noise_scale=0.8)
    assert log_d.shape == (2, 1, 6) and torch.isfinite(log_d).all()
    assert log_d[1, 0, 4:].abs().max() == 0


def test_alignment_scores_are_gaussian_log_densities():
    torch.manual_seed(0)
    z, mean, log_std = torch.randn(2, 3, 7), torch.randn(2, 3, 4), 0.3 * torch.randn(2, 3, 4)
    scores = alignment_scores(z, mean, log_std)
    direct = torch.distributions.Normal(mean[:, :, :, None], log_std.exp()[:, :, :, None]).log_prob(
        z[:, :, None, :]).sum(1)
    torch.testing.assert_close(scores, direct, atol=1e-4, rtol=1e-4)


def test_path_from_durations():
    path = path_from_durations(torch.tensor([[2.0, 1, 3], [1.0, 2, 0]]),
                               torch.arange(6)[None] < torch.tensor([6, 3])[:, None])
    assert path[0].tolist() == [[1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]]
    assert path[1].tolist() == [[1, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]]


def test_blanks_between_symbols():
    tokens, lens = intersperse_blank(torch.tensor([[5, 6, 7], [5, 6, 0]]), torch.tensor([3, 2]), 9)
    assert tokens[0].tolist() == [9, 5, 9, 6, 9, 7, 9] and lens.tolist() == [7, 5]
    assert tokens[1, :5].tolist() == [9, 5, 9, 6, 9]
