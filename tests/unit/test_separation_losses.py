"""Separation losses against hand formulas, fast_bss_eval and scipy's STFT; PIT on planted perms."""

from __future__ import annotations

import itertools

import fast_bss_eval
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from scipy.signal import stft as scipy_stft

from audiokit.losses.pit import PITLoss, pit_from_pairwise, reorder_estimates
from audiokit.losses.separation import (
    pairwise_sd_sdr,
    pairwise_si_sdr,
    pairwise_snr,
    sd_sdr,
    si_sdr,
    snr,
)
from audiokit.losses.stft_loss import MultiResolutionSTFTLoss


def _signals(b=3, s=2, t=800, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    ref = torch.randn(b, s, t, generator=g, dtype=dtype)
    est = 0.8 * ref + 0.5 * torch.randn(b, s, t, generator=g, dtype=dtype) + 0.3  # with an offset
    return est, ref


# --- textbook formulas in numpy, one pair at a time -------------------------------------------

def _np_si_sdr(s_hat, s, zero_mean):
    if zero_mean:
        s_hat, s = s_hat - s_hat.mean(), s - s.mean()
    alpha = np.dot(s_hat, s) / np.dot(s, s)
    target = alpha * s
    return 10 * np.log10(np.sum(target**2) / np.sum((s_hat - target) ** 2))


def _np_sd_sdr(s_hat, s):
    alpha = np.dot(s_hat, s) / np.dot(s, s)
    return 10 * np.log10(np.sum((alpha * s) ** 2) / np.sum((s_hat - s) ** 2))


def _np_snr(s_hat, s):
    return 10 * np.log10(np.sum(s**2) / np.sum((s_hat - s) ** 2))


@pytest.mark.parametrize("zero_mean", [True, False])
def test_pairwise_si_sdr_equals_textbook_formula(zero_mean):
    est, ref = _signals()
    ours = pairwise_si_sdr(est, ref, zero_mean=zero_mean, eps=0.0).numpy()
    e, r = est.numpy(), ref.numpy()
    for b, i, j in itertools.product(range(3), range(2), range(2)):
        assert ours[b, i, j] == pytest.approx(_np_si_sdr(e[b, i], r[b, j], zero_mean), abs=1e-9)
    # the default eps barely moves it (most where the target energy is tiny, at -60 dB)
    default = pairwise_si_sdr(est, ref, zero_mean=zero_mean).numpy()
    np.testing.assert_allclose(default, ours, atol=1e-3)


@pytest.mark.parametrize("zero_mean", [True, False])
def test_si_sdr_equals_fast_bss_eval(zero_mean):
    est, ref = _signals(b=2, s=3, t=1000, seed=1)
    ours = pairwise_si_sdr(est, ref, zero_mean=zero_mean, eps=0.0).numpy()
    for b, i, j in itertools.product(range(2), range(3), range(3)):
        theirs = fast_bss_eval.si_sdr(ref[b, j : j + 1].numpy(), est[b, i : i + 1].numpy(),
                                      zero_mean=zero_mean)
        assert ours[b, i, j] == pytest.approx(float(theirs[0]), abs=1e-8)
    matched = si_sdr(est, ref, zero_mean=zero_mean, eps=0.0).numpy()
    np.testing.assert_allclose(matched, np.diagonal(ours, axis1=1, axis2=2), atol=1e-12)


def test_sd_sdr_and_snr_equal_their_formulas():
    est, ref = _signals(seed=2)
    sd, sn = pairwise_sd_sdr(est, ref, eps=0.0).numpy(), pairwise_snr(est, ref, eps=0.0).numpy()
    e, r = est.numpy(), ref.numpy()
    for b, i, j in itertools.product(range(3), range(2), range(2)):
        assert sd[b, i, j] == pytest.approx(_np_sd_sdr(e[b, i], r[b, j]), abs=1e-9)
        assert sn[b, i, j] == pytest.approx(_np_snr(e[b, i], r[b, j]), abs=1e-9)
    np.testing.assert_allclose(sd_sdr(est, ref, eps=0.0).numpy(), np.diagonal(sd, 0, 1, 2))
    np.testing.assert_allclose(snr(est, ref, eps=0.0).numpy(), np.diagonal(sn, 0, 1, 2))


def test_only_si_sdr_is_scale_invariant():
    est, ref = _signals(seed=3)
    torch.testing.assert_close(si_sdr(7.3 * est, ref), si_sdr(est, ref))
    torch.testing.assert_close(pairwise_si_sdr(7.3 * est, ref), pairwise_si_sdr(est, ref))
    for fn in (sd_sdr, snr):
        assert (fn(7.3 * est, ref) - fn(est, ref)).abs().min() > 1.0


@pytest.mark.parametrize("fn", [pairwise_si_sdr, pairwise_sd_sdr, pairwise_snr])
@pytest.mark.parametrize("zero_mean", [True, False])
def test_lengths_mask_equals_cropped(fn, zero_mean):
    est, ref = _signals(b=3, s=2, t=600, seed=4)
    lengths = torch.tensor([600, 431, 257])
    padded_est, padded_ref = est.clone(), ref.clone()
    for b, n in enumerate(lengths.tolist()):  # garbage in the padding must not matter
        padded_est[b, :, n:] = 5.0
        padded_ref[b, :, n:] = -3.0
    batch = fn(padded_est, padded_ref, lengths, zero_mean=zero_mean)
    for b, n in enumerate(lengths.tolist()):
        alone = fn(est[b : b + 1, :, :n], ref[b : b + 1, :, :n], zero_mean=zero_mean)
        torch.testing.assert_close(batch[b], alone[0], rtol=1e-10, atol=1e-10)


def test_silent_reference_is_finite_with_finite_gradient():
    est, ref = _signals(b=2, s=2, t=400, dtype=torch.float32)
    ref[0, 1] = 0.0
    est[1, 0] = 0.0  # a silent estimate too
    est.requires_grad_(True)
    for fn in (pairwise_si_sdr, pairwise_sd_sdr, pairwise_snr):
        value = fn(est, ref)
        assert torch.isfinite(value).all()
        (grad,) = torch.autograd.grad(value.sum(), est)
        assert torch.isfinite(grad).all()
        clamped = fn(est, ref, clamp_db=30.0)
        assert clamped.min() >= -30.0 and clamped.max() <= 30.0


def test_half_precision_is_computed_in_float32():
    est, ref = _signals(b=1, s=2, t=16000, dtype=torch.float32)
    value = si_sdr(est.to(torch.bfloat16), ref.to(torch.bfloat16))
    assert value.dtype == torch.float32 and torch.isfinite(value).all()


# --- PIT ----------------------------------------------------------------------------------------

def test_pit_by_hand_convention():
    pair = torch.tensor([[[1.0, 5.0], [3.0, 2.0]], [[4.0, 1.0], [2.0, 6.0]]])
    loss, perm = pit_from_pairwise(pair)
    torch.testing.assert_close(loss, torch.tensor([1.5, 1.5]))
    # item 1: estimate 1 goes to reference 0, estimate 0 to reference 1
    assert perm.tolist() == [[0, 1], [1, 0]]


@pytest.mark.parametrize("num_sources", [2, 3, 5])
@pytest.mark.parametrize("method", ["auto", "exhaustive", "hungarian"])
def test_pit_finds_planted_permutation(num_sources, method):
    g = torch.Generator().manual_seed(num_sources)
    ref = torch.randn(4, num_sources, 500, generator=g)
    planted = torch.stack([torch.randperm(num_sources, generator=g) for _ in range(4)])
    # est[b, i] = ref[b, planted[b, i]] + noise, so reference j sits at estimate argsort(planted)[j]
    est = reorder_estimates(ref, planted) + 0.05 * torch.randn(ref.shape, generator=g)
    loss, perm = PITLoss(method=method)(est, ref, return_perm=True)
    assert torch.equal(perm, planted.argsort(dim=1))
    torch.testing.assert_close(reorder_estimates(est, perm), ref, atol=0.3, rtol=0)
    assert loss < -15  # negative SI-SNR of a ~26 dB estimate


def test_hungarian_equals_exhaustive_on_random_matrices():
    pair = torch.rand(64, 4, 4, generator=torch.Generator().manual_seed(0))
    loss_h, perm_h = pit_from_pairwise(pair, method="hungarian")
    loss_e, perm_e = pit_from_pairwise(pair, method="exhaustive")
    assert torch.equal(perm_h, perm_e)
    torch.testing.assert_close(loss_h, loss_e)


@pytest.mark.parametrize("objective", ["si_sdr", "sd_sdr", "snr"])
def test_pit_loss_gradient_and_sign(objective):
    est, ref = _signals(b=3, s=3, t=400, seed=5, dtype=torch.float32)
    est = est[:, [2, 0, 1]].clone().requires_grad_(True)
    loss, perm = PITLoss(objective)(est, ref, return_perm=True)
    matched = {"si_sdr": si_sdr, "sd_sdr": sd_sdr, "snr": snr}[objective]
    expected = -matched(reorder_estimates(est, perm), ref).mean()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert torch.isfinite(est.grad).all() and est.grad.abs().sum() > 0
    per_item = PITLoss(objective, reduction="none")(est, ref)
    assert per_item.shape == (3,)
    torch.testing.assert_close(per_item.mean(), loss)


def test_pit_loss_from_hydra_config():
    cfg = OmegaConf.create({"_target_": "audiokit.losses.pit.PITLoss", "objective": "sd_sdr"})
    loss_fn = instantiate(cfg)
    assert isinstance(loss_fn, PITLoss) and loss_fn.objective == "sd_sdr"
    with pytest.raises(ValueError, match="unknown objective"):
        PITLoss("sisnr")


# --- multi-resolution STFT ------------------------------------------------------------------------

def test_stft_loss_zero_for_identical_positive_otherwise():
    loss_fn = MultiResolutionSTFTLoss()
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(2, 4000, generator=g)
    assert loss_fn(ref, ref).item() == pytest.approx(0.0, abs=1e-7)
    est = (ref + 0.1 * torch.randn(2, 4000, generator=g)).requires_grad_(True)
    loss = loss_fn(est, ref)
    assert loss.item() > 0.01
    loss.backward()
    assert torch.isfinite(est.grad).all() and est.grad.abs().sum() > 0
    same = ref.clone().requires_grad_(True)  # no NaN from the norm at a zero difference
    loss_fn(same, ref).backward()
    assert torch.isfinite(same.grad).all()


def test_stft_loss_equals_scipy_single_resolution():
    n_fft, hop, win = 512, 120, 480
    loss_fn = MultiResolutionSTFTLoss([n_fft], [hop], [win])
    g = torch.Generator().manual_seed(1)
    ref = torch.randn(3, 4000, generator=g, dtype=torch.float64)
    est = ref + 0.3 * torch.randn(3, 4000, generator=g, dtype=torch.float64)

    def mag(x):  # scipy: periodic Hann, window centred on k * hop, zero boundary
        _, _, z = scipy_stft(x.numpy(), window="hann", nperseg=win, noverlap=win - hop,
                             nfft=n_fft, boundary="zeros", padded=False)
        return np.abs(z) * np.hanning(win + 1)[:-1].sum()  # undo scipy's 1/sum(window)

    r, e = mag(ref), mag(est)
    sc = np.linalg.norm(r - e, axis=(1, 2)) / np.linalg.norm(r, axis=(1, 2))
    logmag = np.abs(np.log(r) - np.log(e)).mean(axis=(1, 2))
    assert loss_fn(est, ref).item() == pytest.approx(sc.mean() + logmag.mean(), rel=1e-5)


@pytest.mark.parametrize("with_sources", [False, True])
def test_stft_loss_lengths_equal_cropped(with_sources):
    loss_fn = MultiResolutionSTFTLoss()
    g = torch.Generator().manual_seed(2)
    shape = (3, 2, 6000) if with_sources else (3, 6000)
    ref = torch.randn(shape, generator=g, dtype=torch.float64)
    est = ref + 0.2 * torch.randn(shape, generator=g, dtype=torch.float64)
    lengths = torch.tensor([6000, 4321, 2500])
    padded_est, padded_ref = est.clone(), ref.clone()
    for b, n in enumerate(lengths.tolist()):
        padded_est[b, ..., n:] = 1.0
        padded_ref[b, ..., n:] = -2.0
    batch = loss_fn(padded_est, padded_ref, lengths)
    alone = [loss_fn(est[b : b + 1, ..., :n], ref[b : b + 1, ..., :n])
             for b, n in enumerate(lengths.tolist())]
    assert batch.item() == pytest.approx(torch.stack(alone).mean().item(), rel=1e-9)  # exact


def test_stft_loss_window_is_one_of_the_known_names():
    """The window comes from a config a model file may carry: a name outside the short list
    (any other torch function) is refused, not looked up on torch."""
    MultiResolutionSTFTLoss(window="hamming_window")
    with pytest.raises(ValueError, match="window '_import_dotted_name'"):
        MultiResolutionSTFTLoss(window="_import_dotted_name")
