"""Vocal tract length perturbation: warped tones land where the warp says, alpha 1 is the
identity, and LogMel warps only while training."""

import pytest
import torch

from audiokit.frontends import LogMel
from audiokit.frontends.vtlp import vtlp

SAMPLE_RATE, N_FFT = 8000, 256
HZ_PER_BIN = SAMPLE_RATE / N_FFT


def tone_spectrum(hz: float) -> torch.Tensor:
    """Power spectrogram [1, 129, T] of a 1 s sine."""
    t = torch.arange(SAMPLE_RATE) / SAMPLE_RATE
    wave = torch.sin(2 * torch.pi * hz * t)
    stft = torch.stft(wave, N_FFT, 80, window=torch.hann_window(N_FFT), return_complex=True)
    return stft.abs().square()[None]


@pytest.mark.parametrize("alpha", [0.85, 0.9, 1.1, 1.15])
@pytest.mark.parametrize("hz", [500.0, 1000.0, 2000.0])
def test_tone_below_the_boundary_moves_by_alpha(hz, alpha):
    warped = vtlp(tone_spectrum(hz), torch.tensor([alpha]))
    peak_hz = warped.mean(-1).argmax().item() * HZ_PER_BIN
    assert abs(peak_hz - alpha * hz) <= HZ_PER_BIN


def test_alpha_one_is_the_identity_and_the_axis_keeps_its_ends():
    spec = torch.rand(3, N_FFT // 2 + 1, 7)
    torch.testing.assert_close(vtlp(spec, torch.ones(3)), spec)
    # Nyquist maps onto Nyquist and 0 Hz onto 0 Hz for any factor: nothing is shifted off the axis.
    warped = vtlp(spec, torch.tensor([0.8, 1.0, 1.2]))
    torch.testing.assert_close(warped[:, [0, -1]], spec[:, [0, -1]])


def test_each_utterance_gets_its_own_factor():
    spec = tone_spectrum(1000.0).expand(2, -1, -1)
    warped = vtlp(spec, torch.tensor([0.9, 1.1]))
    peaks = warped.mean(-1).argmax(-1) * HZ_PER_BIN
    assert peaks.tolist() == pytest.approx([900.0, 1100.0], abs=HZ_PER_BIN)


def test_logmel_warps_only_while_training():
    wav = 0.1 * torch.randn(4, 4000, generator=torch.Generator().manual_seed(0))
    lens = torch.tensor([4000, 3000, 2000, 4000])
    plain = LogMel(SAMPLE_RATE).eval()
    warping = LogMel(SAMPLE_RATE, vtln_warp=(0.9, 1.1)).eval()
    expected, _ = plain(wav, lens)
    torch.testing.assert_close(warping(wav, lens)[0], expected)
    torch.testing.assert_close(warping.extract(wav, lens)[0], plain.extract(wav, lens)[0])
    warped, warped_lens = warping.train()(wav, lens)
    assert torch.equal(warped_lens, lens.new_tensor([48, 36, 23, 48]))
    assert (warped - expected).abs().mean() > 0.05
    assert torch.all(warped[2, 23:] == 0)  # padding stays zero


@pytest.mark.parametrize("bad", [(1.1, 0.9), (0.0, 1.1), (0.9,)])
def test_bad_warp_range_is_rejected(bad):
    with pytest.raises(ValueError, match="vtln_warp"):
        LogMel(SAMPLE_RATE, vtln_warp=bad)
