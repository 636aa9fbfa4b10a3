"""Mixtures, noise and reverberation simulation, checked on synthetic signals."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from conftest import write_wav
from scipy.signal import correlate, welch

from audiokit.data.datadir import DataDir
from audiokit.data.simulation import (
    DynamicMixingDataset,
    add_noise,
    babble,
    brown,
    measure_rt60,
    mix_sources,
    pink,
    plan_mixtures,
    random_room,
    reverberate,
    white,
)
from audiokit.data.simulation.noise import rms, snr_db


def _db(a: np.ndarray, b: np.ndarray) -> float:
    return 20 * np.log10(rms(a) / rms(b))


def _signals(lengths, amplitudes, seed=0):
    rng = np.random.default_rng(seed)
    return [a * rng.standard_normal(n).astype(np.float32) for n, a in zip(lengths, amplitudes,
                                                                           strict=True)]


@pytest.mark.parametrize("mode", ["min", "max"])
def test_mix_sources_levels_lengths_and_exact_sum(mode):
    lengths = [800, 1200, 1000]
    sources = _signals(lengths, [0.5, 2.0, 0.05])
    levels = [0.0, -3.5, 4.2]
    mixture, refs = mix_sources(sources, levels, mode)
    expect = min(lengths) if mode == "min" else max(lengths)
    assert mixture.shape == (expect,) and refs.shape == (3, expect)
    assert np.array_equal(mixture, refs.sum(axis=0))
    assert np.abs(mixture).max() <= 0.9 + 1e-6
    # Levels are measured over each source's valid samples (before zero padding).
    valid = [min(n, expect) for n in lengths]
    for k in (1, 2):
        measured = _db(refs[k, : valid[k]], refs[0, : valid[0]])
        assert measured == pytest.approx(levels[k] - levels[0], abs=1e-4)
    if mode == "max":  # padding is zeros
        assert not refs[0, 800:].any() and not refs[2, 1000:].any()


def test_mix_sources_keeps_quiet_mixtures_and_rejects_silence():
    quiet = _signals([500, 500], [0.01, 0.01])
    mixture, refs = mix_sources(quiet, [0.0, 0.0])
    assert np.array_equal(refs[0], quiet[0])  # no up-scaling: source 1 keeps its level
    assert np.abs(mixture).max() < 0.9
    with pytest.raises(ValueError, match="silent"):
        mix_sources([quiet[0], np.zeros(500, np.float32)], [0.0, 0.0])
    with pytest.raises(ValueError, match="mode"):
        mix_sources(quiet, [0.0, 0.0], mode="mean")


def _utt2spk(num_speakers=4, per_speaker=10):
    return {f"s{s}_u{u:02d}": f"s{s}" for s in range(num_speakers) for u in range(per_speaker)}


def test_plan_mixtures_speakers_levels_determinism():
    utt2spk = _utt2spk()
    plan = plan_mixtures(utt2spk, None, 60, 2, (-5, 5), seed=7)
    assert len(plan) == 60 and len({p.mix_id for p in plan}) == 60
    for p in plan:
        assert len(set(p.speakers)) == 2
        assert [utt2spk[u] for u in p.utts] == list(p.speakers)
        assert p.levels_db[0] == 0.0 and -5 <= p.levels_db[1] <= 5
    # Balanced rounds: 6 speaker pairs, 60 mixtures -> each pair exactly 10 times.
    assert set(Counter(frozenset(p.speakers) for p in plan).values()) == {10}
    assert plan == plan_mixtures(utt2spk, None, 60, 2, (-5, 5), seed=7)
    assert plan != plan_mixtures(utt2spk, None, 60, 2, (-5, 5), seed=8)
    three = plan_mixtures(utt2spk, None, 8, 3, (-2, 2), seed=1)
    assert all(len(set(p.speakers)) == 3 and len(p.levels_db) == 3 for p in three)


def test_plan_mixtures_duration_filter_and_errors():
    utt2spk = _utt2spk(2, 4)
    utt2dur = {u: (0.1 if u.endswith("00") else 1.0) for u in utt2spk}
    plan = plan_mixtures(utt2spk, utt2dur, 20, seed=0, min_duration=0.5)
    assert not any(u.endswith("00") for p in plan for u in p.utts)
    with pytest.raises(ValueError, match="3 speakers"):
        plan_mixtures(utt2spk, None, 5, num_sources=3)


@pytest.mark.parametrize("snr", [-5.0, 0.0, 7.5, 20.0])
def test_add_noise_exact_snr(snr):
    clean, noise = _signals([4000, 1500], [0.3, 1.0], seed=3)  # short noise is looped
    noisy, scaled = add_noise(clean, noise, snr, seed=1)
    assert len(noisy) == len(scaled) == len(clean)
    assert snr_db(clean, scaled) == pytest.approx(snr, abs=0.01)
    assert np.array_equal(noisy, clean + scaled)


def _slope_db_per_decade(noise: np.ndarray) -> float:
    freqs, psd = welch(noise.astype(np.float64), fs=1.0, nperseg=8192)
    band = (freqs > 2e-3) & (freqs < 0.4)  # away from DC and Nyquist
    return 10 * np.polyfit(np.log10(freqs[band]), np.log10(psd[band]), 1)[0]


@pytest.mark.parametrize("gen,slope", [(white, 0.0), (pink, -10.0), (brown, -20.0)])
def test_coloured_noise_slope_level_determinism(gen, slope):
    noise = gen(1 << 17, 5)
    assert _slope_db_per_decade(noise) == pytest.approx(slope, abs=1.0)
    assert rms(noise) == pytest.approx(1.0, rel=1e-5) and abs(noise.mean()) < 1e-6
    assert np.array_equal(noise, gen(1 << 17, 5)) and not np.array_equal(noise, gen(1 << 17, 6))


def test_babble_sums_several_talkers():
    talkers = _signals([300, 700, 500, 900], [0.1, 1.0, 0.5, 0.2], seed=2)
    b = babble(talkers, 3, num_samples=1000, seed=4)
    assert len(b) == 1000 and rms(b) == pytest.approx(1.0, rel=1e-5)
    assert np.array_equal(b, babble(talkers, 3, num_samples=1000, seed=4))
    with pytest.raises(ValueError, match="talkers"):
        babble(talkers, 5)


def test_room_is_deterministic_and_rt60_near_request():
    kwargs = dict(rt60_range=(0.4, 0.4), room_dim_range=((6.0, 5.0, 3.0), (6.0, 5.0, 3.0)))
    a, b = random_room(11, 8000, **kwargs), random_room(11, 8000, **kwargs)
    assert np.array_equal(a.rir, b.rir) and a.source == b.source
    assert not np.array_equal(a.rir, random_room(12, 8000, **kwargs).rir)
    # The image method decays a little slower than Sabine's formula: a loose tolerance.
    assert 0.7 * 0.4 < measure_rt60(a) < 1.4 * 0.4
    # The direct-path RIR is the first arrival of the full RIR.
    assert a.delay == int(np.argmax(np.abs(a.direct)))
    d = a.delay
    assert np.allclose(a.rir[d - 5 : d + 6], a.direct[d - 5 : d + 6], atol=0.2 * abs(a.direct[d]))


def test_reverberate_target_aligned_to_direct_path():
    room = random_room(3, 8000, rt60_range=(0.3, 0.3))
    clean = _signals([4000], [0.2], seed=9)[0]
    wet, target = reverberate(clean, room)
    assert len(wet) == len(target) == len(clean)
    assert rms(target) == pytest.approx(rms(clean), rel=1e-4)  # propagation loss undone

    def lag(x, y):
        c = correlate(x, y, mode="full", method="fft")
        return int(np.argmax(c)) - (len(y) - 1)

    assert lag(target, clean) == 0  # the target has no propagation delay
    assert lag(wet, target) == 0  # ... and is aligned with the reverberant input
    assert _db(wet - target, target) > -20  # there is reverberation to remove
    # A bare RIR that is a pure delay gives back the input unchanged.
    delta = np.zeros(50, np.float32)
    delta[37] = 0.5
    wet, target = reverberate(clean, delta)
    assert np.allclose(wet, clean, atol=1e-6) and np.allclose(target, clean, atol=1e-6)


@pytest.fixture
def synthetic_dir(tmp_path):
    rng = np.random.default_rng(0)
    wav_scp, utt2spk = {}, {}
    for s in range(4):
        for u in range(3):
            utt = f"spk{s}-u{u}"
            seconds = float(rng.uniform(0.2, 0.6))
            wav_scp[utt] = str(write_wav(tmp_path / f"{utt}.wav", seconds, 8000, seed=10 * s + u))
            utt2spk[utt] = f"spk{s}"
    DataDir(path=tmp_path / "data", wav_scp=wav_scp, utt2spk=utt2spk).write()
    return tmp_path / "data"


def _speakers(item_id: str) -> list[str]:
    return [u.split("-")[0] for u in item_id.split("-", 2)[2].split("-")[::2]]


def test_dynamic_mixing_reproducible_and_fresh(synthetic_dir):
    a = DynamicMixingDataset(synthetic_dir, num_sources=2, epoch_size=20, seed=5)
    b = DynamicMixingDataset(synthetic_dir, num_sources=2, epoch_size=20, seed=5, lazy=True)
    assert len(a) == 20
    for i in (0, 7):
        x, y = a[i], b[i]  # another instance (another worker or rank) gives the same item
        assert x["id"] == y["id"] and torch.equal(x["mixture"], y["mixture"])
        assert torch.equal(x["sources"], y["sources"])
    first = [a[i]["id"] for i in range(20)]
    a.set_epoch(1)
    assert [a[i]["id"] for i in range(20)] != first
    for i in range(20):
        item = a[i]
        speakers = _speakers(item["id"])
        assert len(speakers) == 2 and speakers[0] != speakers[1]
        assert item["sources"].shape == (2, item["mixture"].shape[0])
        assert torch.equal(item["mixture"], item["sources"].sum(0))
        assert item["mixture"].abs().max() <= 0.9 + 1e-6


def test_dynamic_mixing_speed_factors(synthetic_dir):
    plain = DynamicMixingDataset(synthetic_dir, epoch_size=12, seed=2, mode="max")
    same = DynamicMixingDataset(synthetic_dir, epoch_size=12, seed=2, mode="max",
                                speed_factors=[1.0])
    assert all(torch.equal(plain[i]["mixture"], same[i]["mixture"]) for i in range(12))
    fast = DynamicMixingDataset(synthetic_dir, epoch_size=12, seed=2, mode="max",
                                speed_factors=[2.0])  # twice as fast: half the samples
    for i in range(12):
        assert fast[i]["id"] == plain[i]["id"]
        assert abs(fast[i]["mixture"].shape[0] - plain[i]["mixture"].shape[0] / 2) <= 1
    mixed = DynamicMixingDataset(synthetic_dir, epoch_size=40, seed=2, mode="max",
                                 speed_factors=[0.5, 1.0, 2.0])
    seconds = mixed.durations(0)  # planned without audio: they must match the items
    lengths = [mixed[i]["mixture"].shape[0] / 8000 for i in range(40)]
    assert max(abs(a - b) for a, b in zip(seconds, lengths, strict=True)) < 2e-3
    unchanged = DynamicMixingDataset(synthetic_dir, epoch_size=40, seed=2, mode="max")
    ratios = {round(a / b, 1) for a, b in zip(seconds, unchanged.durations(0), strict=True)}
    assert len(ratios) > 1  # the same utterances, at different speeds
    with pytest.raises(ValueError, match="positive"):
        DynamicMixingDataset(synthetic_dir, speed_factors=[0.0])


def test_dynamic_mixing_segments(synthetic_dir):
    ds = DynamicMixingDataset(synthetic_dir, num_sources=3, epoch_size=10, segment_seconds=0.3,
                              sample_rate=8000, seed=1)
    for i in range(10):
        item = ds[i]
        assert item["mixture"].shape == (2400,) and item["sources"].shape == (3, 2400)
        assert torch.equal(item["mixture"], item["sources"].sum(0))
        assert len(set(_speakers(item["id"]))) == 3
