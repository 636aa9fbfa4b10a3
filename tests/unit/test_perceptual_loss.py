"""The PESQ-correlated loss ranks degradations of real speech as PESQ does (where SI-SNR cannot
tell them apart), is 0 for identical signals, scale-invariant, exact under padding, and rides
on PIT's permutation."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from pesq import pesq
from scipy.stats import spearmanr

from audiokit.losses.perceptual import PerceptualLoss, bark_bands
from audiokit.losses.pit import PITLoss
from audiokit.losses.separation import si_sdr

SPEAKERS = ("george", "jackson", "nicolas", "theo", "yweweler")
CONDITIONS = [(kind, snr) for kind in ("white", "speech") for snr in (0, 5, 10, 20)]


@pytest.fixture(scope="module")
def degraded(fsdd_root):
    """Three-digit utterances of each speaker with white noise or another speaker's digits
    added at 0-20 dB SNR: (references, degraded, conditions, PESQ-nb)."""
    rng = np.random.default_rng(0)
    recordings = fsdd_root / "recordings"

    def utterance(speaker: str) -> np.ndarray:
        digits = rng.integers(10, size=3)
        return np.concatenate([sf.read(recordings / f"{d}_{speaker}_{rng.integers(5)}.wav")[0]
                               for d in digits])

    clean = [utterance(s) for s in SPEAKERS]
    refs, outs, conds, scores = [], [], [], []
    for k, ref in enumerate(clean):
        other = np.resize(clean[(k + 1) % len(clean)], len(ref))
        for kind, snr in CONDITIONS:
            noise = rng.standard_normal(len(ref)) if kind == "white" else other
            noise = noise * np.sqrt(np.mean(ref**2) / np.mean(noise**2)) * 10 ** (-snr / 20)
            refs.append(ref)
            outs.append(ref + noise)
            conds.append((kind, snr))
            scores.append(pesq(8000, ref, ref + noise, "nb"))
    return refs, outs, conds, np.array(scores)


def _padded(signals: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(len(x) for x in signals)
    batch = np.stack([np.pad(x, (0, longest - len(x))) for x in signals])
    return torch.tensor(batch, dtype=torch.float32), torch.tensor([len(x) for x in signals])


def test_ranks_degradations_as_pesq_does(degraded) -> None:
    refs, outs, conds, scores = degraded
    ref, lengths = _padded(refs)
    est, _ = _padded(outs)
    loss = PerceptualLoss(8000, reduction="none")(est, ref, lengths).numpy()
    rho = spearmanr(loss, scores).statistic               # lower loss, higher PESQ
    rho_si_snr = spearmanr(si_sdr(est, ref, lengths).numpy(), scores).statistic
    assert rho < -0.8, rho                                # measured -0.84
    assert -rho > rho_si_snr, (rho, rho_si_snr)           # SI-SNR: 0.78
    # At equal SNR (equal SI-SNR) white noise hurts PESQ more than a voice; so does the loss.
    for snr in (0, 5, 10, 20):
        mean = {kind: (loss[[c == (kind, snr) for c in conds]].mean(),
                       scores[[c == (kind, snr) for c in conds]].mean())
                for kind in ("white", "speech")}
        assert mean["white"][1] < mean["speech"][1]      # PESQ
        assert mean["white"][0] > mean["speech"][0]      # the loss agrees


def test_padding_is_exact_and_identical_signals_score_zero(degraded) -> None:
    refs, outs, _, _ = degraded
    term = PerceptualLoss(8000, reduction="none")
    ref, lengths = _padded(refs[:6])
    est, _ = _padded(outs[:6])
    batched = term(est, ref, lengths)
    one_by_one = torch.stack([term(torch.tensor(o, dtype=torch.float32)[None],
                                   torch.tensor(r, dtype=torch.float32)[None])[0]
                              for o, r in zip(outs[:6], refs[:6], strict=True)])
    torch.testing.assert_close(batched, one_by_one, rtol=1e-4, atol=1e-5)
    assert torch.equal(term(ref, ref, lengths), torch.zeros(6))
    torch.testing.assert_close(term(3.0 * est, ref, lengths), batched, rtol=1e-4, atol=1e-5)


def test_gradients_are_finite_on_silence_and_identity() -> None:
    term = PerceptualLoss(16000)
    ref = torch.randn(2, 3, 8000)
    for est in (torch.zeros(2, 3, 8000), ref.clone(), ref + 0.1 * torch.randn_like(ref)):
        est.requires_grad_()
        term(est, ref, torch.tensor([8000, 5000])).backward()
        assert torch.isfinite(est.grad).all()


def test_bark_bands_cover_every_bin_once() -> None:
    bands = bark_bands(256, 8000)
    assert torch.equal(bands.sum(1), torch.ones(129))
    assert bands.shape[1] == 16  # 0-4 kHz spans 15.6 Bark (6 asinh(4000 / 600))


def test_pit_adds_the_term_in_the_chosen_permutation() -> None:
    torch.manual_seed(0)
    ref = torch.randn(3, 2, 4000)
    est = ref.flip(1) + 0.3 * torch.randn_like(ref)   # sources swapped: PIT must undo it
    plain = PITLoss(reduction="none")(est, ref)
    with_term = PITLoss(reduction="none", perceptual_weight=0.5)(est, ref)
    expected = PerceptualLoss(8000, reduction="none")(est.flip(1), ref)
    torch.testing.assert_close(with_term, plain + 0.5 * expected)


def test_bf16_autocast_computes_in_float32() -> None:
    torch.manual_seed(0)
    ref = torch.randn(2, 4000)
    est = ref + 0.2 * torch.randn_like(ref)
    term = PerceptualLoss(8000)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = term(est, ref)
    assert under_autocast.dtype == torch.float32
    torch.testing.assert_close(under_autocast, term(est, ref))
