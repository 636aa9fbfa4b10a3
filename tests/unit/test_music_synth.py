"""The built-in synthesiser: right pitch, five timbres that differ where instruments differ
(partial amplitudes, envelope), and the same samples for the same seed."""

from __future__ import annotations

import numpy as np
import pytest

from audiokit.music.synth import TIMBRES, TimedNote, midi_to_hz, render_notes

RATE = 16000


def spectrum(wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    windowed = wave * np.hanning(len(wave))
    return np.fft.rfftfreq(len(wave), 1 / RATE), np.abs(np.fft.rfft(windowed))


def held_note(timbre: str, pitch: int = 69, seed: int = 0, seconds: float = 2.0) -> np.ndarray:
    return render_notes([TimedNote(0.0, seconds - 0.3, pitch)], timbre, RATE, seconds,
                        np.random.default_rng(seed))


def partial_levels(wave: np.ndarray, f0: float, count: int = 8) -> np.ndarray:
    """Peak magnitude near each of the first ``count`` partials, relative to the largest."""
    freqs, mag = spectrum(wave)
    levels = np.array([mag[(freqs > h * f0 * 0.97) & (freqs < h * f0 * 1.03)].max()
                       for h in range(1, count + 1)])
    return levels / levels.max()


@pytest.mark.parametrize("pitch", [60, 69, 76])
@pytest.mark.parametrize("timbre", ["organ", "strings", "flute", "piano"])
def test_fft_peak_is_the_fundamental(timbre, pitch):
    freqs, mag = spectrum(held_note(timbre, pitch)[: RATE])  # the first second: 1 Hz bins
    assert abs(freqs[np.argmax(mag)] - midi_to_hz(pitch)) <= 1.0


def test_brass_peaks_on_its_third_partial_and_all_energy_is_harmonic():
    f0 = midi_to_hz(57)  # A3, 220 Hz
    freqs, mag = spectrum(held_note("brass", 57)[: RATE])
    assert abs(freqs[np.argmax(mag)] - 3 * f0) <= 1.0
    for timbre in TIMBRES:
        freqs, mag = spectrum(held_note(timbre, 57)[: RATE])
        power = mag ** 2
        low = freqs < 8.5 * f0  # the first 8 partials (piano's stretch is under 1 % there)
        ratio = freqs / f0
        near = low & (np.abs(ratio - np.round(ratio)) < 0.04) & (np.round(ratio) >= 1)
        assert power[near].sum() > 0.95 * power[low].sum(), timbre  # vibrato, breath: a little


def test_timbres_have_distinct_partial_profiles():
    f0 = midi_to_hz(57)
    profiles = {t: partial_levels(held_note(t, 57)[: RATE // 2], f0) for t in TIMBRES}
    names = list(profiles)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.abs(profiles[a] - profiles[b]).sum() > 0.5, (a, b, profiles[a], profiles[b])
    assert profiles["organ"][4] < 0.02 and profiles["organ"][5] > 0.2  # no 5th partial, a 6th
    assert profiles["flute"][1:].max() < 0.25                           # nearly a sine
    assert np.argmax(profiles["brass"]) in (2, 3)                       # peak at the 3rd/4th
    assert np.all(np.diff(profiles["strings"]) < 0) and profiles["strings"][7] > 0.05  # all, falling


def centroid(wave: np.ndarray) -> float:
    freqs, mag = spectrum(wave)
    return float((freqs * mag ** 2).sum() / (mag ** 2).sum())


def test_spectral_centroids_and_envelopes_differ():
    c = {t: centroid(held_note(t, 57)[: RATE // 2]) for t in TIMBRES}
    assert c["flute"] < c["piano"] < c["organ"] < c["strings"] < c["brass"], c
    level = {t: (lambda w: np.sqrt(np.mean(w[int(1.3 * RATE): int(1.6 * RATE)] ** 2))
                 / np.sqrt(np.mean(w[int(0.1 * RATE): int(0.4 * RATE)] ** 2)))(held_note(t, 57))
             for t in TIMBRES}
    assert level["piano"] < 0.5  # struck: decays while held
    for t in ("organ", "strings", "flute", "brass"):
        assert 0.9 < level[t] < 1.1, (t, level[t])  # sustained
    # attacks: organ and piano speak at once, strings take their bow stroke
    onset = {t: np.argmax(np.abs(held_note(t, 57)) > 0.5 * np.abs(held_note(t, 57)).max()) / RATE
             for t in TIMBRES}
    assert onset["piano"] < 0.02 and onset["organ"] < 0.02 and onset["strings"] > 0.05


def test_same_seed_same_samples():
    notes = [TimedNote(0.0, 0.5, 60), TimedNote(0.5, 0.5, 64), TimedNote(0.25, 1.0, 48, 60)]
    for timbre in TIMBRES:
        a = render_notes(notes, timbre, RATE, 1.5, np.random.default_rng(7))
        b = render_notes(notes, timbre, RATE, 1.5, np.random.default_rng(7))
        c = render_notes(notes, timbre, RATE, 1.5, np.random.default_rng(8))
        assert np.array_equal(a, b)
        assert not np.array_equal(a, c)  # phases (and breath noise) come from the generator
        assert a.dtype == np.float32 and len(a) == int(1.5 * RATE)
        assert np.sqrt(np.mean(a.astype(float) ** 2)) == pytest.approx(0.1, rel=1e-3)


def test_unknown_timbre_is_named():
    with pytest.raises(ValueError, match="unknown timbre 'harp'"):
        render_notes([TimedNote(0, 1, 60)], "harp", RATE, 1.0, np.random.default_rng(0))
