"""Separation metrics against fast_bss_eval, pesq and pystoi on speech-like signals; errors."""

from __future__ import annotations

import fast_bss_eval
import numpy as np
import pytest
import soundfile as sf
from scipy.signal import lfilter

from audiokit.metrics.separation import (
    parse_conditions,
    pesq_score,
    score_utterance,
    sdr,
    sdr_improvement,
    si_snr,
    si_snr_improvement,
    stoi_score,
    summarize,
    summarize_by_condition,
)


def speech_like(sample_rate: int, seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """Voiced syllables: a glottal pulse train (f0 ~110 Hz) through three vowel formants,
    250 ms syllables with a pause every fourth - enough speech for PESQ's and STOI's VADs."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = 110 + 20 * np.sin(2 * np.pi * 0.7 * t) + 10 * rng.random()
    pulses = np.diff(np.floor(np.cumsum(f0 / sample_rate)), prepend=0.0)
    source = lfilter([1.0], [1.0, -0.95], pulses)  # glottal spectral tilt
    vowels = [(700, 1200, 2600), (300, 2300, 3000), (500, 900, 2400), (400, 1900, 2550)]
    syllable = int(0.25 * sample_rate)
    out = np.zeros(n)
    for k, start in enumerate(range(0, n - syllable, syllable)):
        if k % 4 == 3:
            continue
        seg = source[start : start + syllable]
        for fc, bw in zip(vowels[(k + seed) % 4], (80, 100, 120), strict=True):
            r, theta = np.exp(-np.pi * bw / sample_rate), 2 * np.pi * fc / sample_rate
            seg = lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], seg)
        out[start : start + syllable] = seg * np.sin(np.pi * np.arange(syllable) / syllable) ** 2
    return 0.3 * out / np.abs(out).max()


def add_noise(x: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(x.shape)
    return x + noise * np.sqrt(np.mean(x**2) / np.mean(noise**2) / 10 ** (snr_db / 10))


def _sources(sample_rate=8000, seconds=2.0):
    return np.stack([speech_like(sample_rate, seconds, seed=s) for s in (0, 1)])


# --- SI-SNR and SDR ---------------------------------------------------------------------------

def test_si_snr_equals_fast_bss_eval_zero_mean():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((2, 3000))
    est = ref + 0.4 * rng.standard_normal((2, 3000)) + 0.1
    theirs = [fast_bss_eval.si_sdr(ref[j : j + 1], est[j : j + 1], zero_mean=True)[0]
              for j in range(2)]
    np.testing.assert_allclose(si_snr(est, ref), theirs, atol=1e-6)


def test_si_snr_improvement_extremes():
    ref = _sources()
    mix = ref.sum(0)
    assert si_snr_improvement(ref, ref, mix).min() > 60
    np.testing.assert_allclose(si_snr_improvement(np.stack([mix, mix]), ref, mix), 0.0, atol=1e-9)


def test_sdr_equals_fast_bss_eval_with_permutation():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal((3, 4000))
    est = ref[[2, 0, 1]] + np.array([[0.1], [0.2], [0.3]]) * rng.standard_normal((3, 4000))
    ours, perm = sdr(est, ref)
    theirs, their_perm = fast_bss_eval.sdr(ref, est, return_perm=True)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    assert perm.tolist() == their_perm.tolist() == [1, 2, 0]
    mix = ref.sum(0)
    mix_sdr = [fast_bss_eval.sdr(ref[j : j + 1], mix[None])[0] for j in range(3)]
    np.testing.assert_allclose(sdr_improvement(est, ref, mix), theirs - mix_sdr, rtol=1e-9)
    np.testing.assert_allclose(sdr_improvement(np.stack([mix] * 3), ref, mix), 0.0, atol=1e-9)


# --- PESQ and STOI ------------------------------------------------------------------------------

@pytest.mark.parametrize("sample_rate,mode,top", [(8000, "nb", 4.5), (16000, "nb", 4.5),
                                                  (16000, "wb", 4.6), (8000, "wb", 4.6)])
def test_pesq_identical_is_maximal_and_drops_with_noise(sample_rate, mode, top):
    x = speech_like(sample_rate)
    clean = pesq_score(x, x, sample_rate, mode)
    noisy_20 = pesq_score(x, add_noise(x, 20), sample_rate, mode)
    noisy_0 = pesq_score(x, add_noise(x, 0), sample_rate, mode)
    assert clean > top  # P.862 MOS-LQO tops out at ~4.55 (nb) and ~4.64 (wb)
    assert clean > noisy_20 > noisy_0


def test_stoi_identical_is_one_and_drops_with_noise():
    x = speech_like(8000)
    assert stoi_score(x, x, 8000) == pytest.approx(1.0, abs=1e-6)
    assert stoi_score(x, x, 8000, extended=True) == pytest.approx(1.0, abs=1e-6)
    assert 1.0 > stoi_score(x, add_noise(x, 10), 8000) > stoi_score(x, add_noise(x, -5), 8000)
    with pytest.raises(ValueError, match="STOI undefined"):
        stoi_score(x[:2000], x[:2000], 8000)  # 0.25 s: too few frames


def test_pesq_stoi_on_real_speech(fsdd_root):  # the fixture marks it 'corpus'
    recordings = fsdd_root / "recordings"
    x = np.concatenate([sf.read(recordings / f"{d}_jackson_0.wav")[0] for d in range(6)])
    assert pesq_score(x, x, 8000, "nb") > 4.4
    assert pesq_score(x, add_noise(x, 5), 8000, "nb") < 3.5
    assert stoi_score(x, x, 8000) > 0.999 > stoi_score(x, add_noise(x, -5), 8000)


# --- score_utterance and summarize ---------------------------------------------------------------

def test_score_utterance_solves_permutation_once():
    ref = _sources()
    mix = ref.sum(0)
    est = np.stack([add_noise(ref[1], 15, seed=3), add_noise(ref[0], 10, seed=4)])
    metrics = ("si_snr", "si_snri", "sdr", "sdri", "pesq_nb", "stoi")
    row = score_utterance("utt1", est, ref, mix, 8000, metrics)
    assert row["utt_id"] == "utt1" and row["perm"] == [1, 0]
    aligned = est[[1, 0]]
    assert row["si_snr"] == pytest.approx(si_snr(aligned, ref).mean())
    assert row["si_snri"] == pytest.approx(si_snr_improvement(aligned, ref, mix).mean())
    assert row["sdr"] == pytest.approx(fast_bss_eval.sdr(ref, est).mean())
    assert row["pesq_nb"] == pytest.approx(
        np.mean([pesq_score(ref[j], aligned[j], 8000) for j in range(2)]))
    assert 0 < row["stoi"] < 1


def test_score_utterance_perfect_estimate_is_finite():
    ref = _sources()
    row = score_utterance("perfect", ref, ref, ref.sum(0), 8000)
    assert all(np.isfinite(v) for k, v in row.items() if k not in ("utt_id", "perm"))
    assert row["sdr"] == pytest.approx(100.0, abs=1e-3)  # capped rather than +inf


def test_score_utterance_rejects_bad_input():
    ref = _sources()
    mix = ref.sum(0)
    silent = ref.copy()
    silent[1] = 0.0
    with pytest.raises(ValueError, match=r"uttS: reference source 1 is silent"):
        score_utterance("uttS", ref, silent, mix, 8000)
    with pytest.raises(ValueError, match=r"uttZ: estimated source 0 is all zeros"):
        score_utterance("uttZ", np.stack([np.zeros_like(mix), mix]), ref, mix, 8000)
    with pytest.raises(ValueError, match=r"uttL: lengths differ by more than 16"):
        score_utterance("uttL", ref[:, :-100], ref, mix, 8000)
    with pytest.raises(ValueError, match=r"uttC: 1 estimated sources but 2 references"):
        score_utterance("uttC", ref[:1], ref, mix, 8000)
    nan_est = ref.copy()
    nan_est[0, 5] = np.nan
    with pytest.raises(ValueError, match=r"uttN: estimate source 0 contains NaN"):
        score_utterance("uttN", nan_est, ref, mix, 8000)
    with pytest.raises(ValueError, match=r"uttP: pesq_nb failed"):
        score_utterance("uttP", ref[:, :800], ref[:, :800], mix[:800], 8000, ["pesq_nb"])
    with pytest.raises(ValueError, match="unknown metrics"):
        score_utterance("u", ref, ref, mix, 8000, ["pesq"])


def test_score_utterance_single_source_enhancement():
    clean = speech_like(16000, 2.0)
    noisy = add_noise(clean, 0)
    enhanced = add_noise(clean, 10, seed=2)
    row = score_utterance("enh", enhanced, clean, noisy, 16000, ["si_snri", "pesq_wb", "estoi"])
    assert row["perm"] == [0]
    assert row["si_snri"] == pytest.approx(10.0, abs=0.5)  # 0 dB in, ~10 dB out
    assert row["pesq_wb"] == pytest.approx(pesq_score(clean, enhanced, 16000, "wb"))
    assert row["estoi"] == pytest.approx(stoi_score(clean, enhanced, 16000, extended=True))


def test_score_utterance_trims_a_few_samples():
    ref = _sources()
    mix = ref.sum(0)
    est = add_noise(ref, 10)
    row = score_utterance("utt", est[:, :-5], ref, mix, 8000, ["si_snr"])
    assert row["si_snr"] == pytest.approx(si_snr(est[:, :-5], ref[:, :-5]).mean())


def test_summarize_means_and_refuses_nan():
    rows = [{"utt_id": "a", "perm": [0, 1], "si_snri": 10.0, "sdri": 9.0},
            {"utt_id": "b", "perm": [1, 0], "si_snri": 14.0, "sdri": 11.0}]
    assert summarize(rows) == {"num_utts": 2, "si_snri": 12.0, "sdri": 10.0}
    with pytest.raises(ValueError, match=r"b has sdri = nan"):
        summarize([rows[0], {**rows[1], "sdri": float("nan")}])
    with pytest.raises(ValueError, match=r"b has no 'sdri'"):
        summarize([rows[0], {"utt_id": "b", "perm": [0, 1], "si_snri": 1.0}])
    with pytest.raises(ValueError, match="no utterances"):
        summarize([])


def test_summarize_by_condition_groups_each_factor():
    rows = [{"utt_id": "a", "perm": [0], "si_snri": 10.0, "stoi": 0.9, "stoi_input": 0.7},
            {"utt_id": "b", "perm": [0], "si_snri": 4.0},  # STOI undefined here
            {"utt_id": "c", "perm": [0], "si_snri": 1.0, "stoi": 0.5, "stoi_input": 0.4}]
    conditions = parse_conditions({"a": "noise=white room=dry", "b": "noise=white room=reverb",
                                   "c": "noise=babble room=reverb"})
    assert conditions["b"] == {"noise": "white", "room": "reverb"}
    by = summarize_by_condition(rows, conditions)
    assert list(by) == ["noise", "room"]
    assert by["noise"]["white"] == {"num_utts": 2, "si_snri": 7.0, "stoi": 0.9,
                                    "num_stoi": 1, "stoi_input": 0.7, "num_stoi_input": 1}
    assert by["noise"]["babble"] == {"num_utts": 1, "si_snri": 1.0, "stoi": 0.5,
                                     "stoi_input": 0.4}
    assert by["room"]["reverb"]["si_snri"] == 2.5 and by["room"]["dry"]["num_utts"] == 1
    with pytest.raises(ValueError, match=r"utterance 'a': 'white' is not factor=value"):
        parse_conditions({"a": "white room=dry"})
    with pytest.raises(ValueError, match=r"no condition for 1 scored utterance.*'c'"):
        summarize_by_condition(rows, {k: conditions[k] for k in "ab"})
