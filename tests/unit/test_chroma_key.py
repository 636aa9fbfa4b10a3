"""Chroma key estimation on synthetic audio of known keys: scales and cadences rendered by the
built-in synthesiser in every tonic, major and (harmonic) minor."""

from __future__ import annotations

import numpy as np
import pytest

from audiokit.music.chroma_key import KK_MAJOR, KK_MINOR, audio_key, estimate_key, key_scores
from audiokit.music.synth import TimedNote, render_notes
from audiokit.music.t2m_facts import tonic_name, tonic_pitch_class

RATE = 16000
MAJOR_SCALE, MINOR_SCALE = (0, 2, 4, 5, 7, 9, 11, 12), (0, 2, 3, 5, 7, 8, 11, 12)  # harmonic minor
# I-IV-V-I (i-iv-V-i): root-position triads, then the scale, then the tonic held
MAJOR_CHORDS = ((0, 4, 7), (5, 9, 12), (7, 11, 14), (0, 4, 7))
MINOR_CHORDS = ((0, 3, 7), (5, 8, 12), (7, 11, 14), (0, 3, 7))


def key_clip(tonic: int, mode: str, timbre: str = "organ") -> np.ndarray:
    base = 60 + tonic if tonic < 6 else 48 + tonic
    chords = MAJOR_CHORDS if mode == "major" else MINOR_CHORDS
    scale = MAJOR_SCALE if mode == "major" else MINOR_SCALE
    notes, t = [], 0.0
    for chord in chords:
        notes += [TimedNote(t, 0.5, base + p) for p in chord] + [TimedNote(t, 0.5, base - 12 + chord[0])]
        t += 0.5
    for step in scale:
        notes.append(TimedNote(t, 0.25, base + step))
        t += 0.25
    notes += [TimedNote(t, 1.0, base + p) for p in (0, 4 if mode == "major" else 3, 7)]
    return render_notes(notes, timbre, RATE, t + 1.2, np.random.default_rng(tonic))


@pytest.mark.parametrize("mode", ["major", "minor"])
@pytest.mark.parametrize("tonic", range(12))
def test_every_key_of_synthetic_cadences(tonic, mode):
    got_tonic, got_mode, corr = audio_key(key_clip(tonic, mode), RATE)
    assert (got_tonic, got_mode) == (tonic, mode), (tonic_name(got_tonic, got_mode), got_mode)
    assert corr > 0.6


@pytest.mark.parametrize("timbre", ["strings", "flute", "piano", "brass"])
def test_other_timbres(timbre):
    assert audio_key(key_clip(2, "minor", timbre), RATE)[:2] == (2, "minor")   # D minor
    assert audio_key(key_clip(10, "major", timbre), RATE)[:2] == (10, "major")  # B-flat major


def test_a_profile_is_its_own_key():
    for tonic in range(12):
        assert estimate_key(np.roll(KK_MAJOR, tonic))[:2] == (tonic, "major")
        got = estimate_key(np.roll(KK_MINOR, tonic))
        assert got[:2] == (tonic, "minor") and got[2] == pytest.approx(1.0)
    # the correlation is Pearson's: invariant to scale and offset of the chroma
    assert np.allclose(key_scores(3 * np.roll(KK_MINOR, 4) + 2), key_scores(np.roll(KK_MINOR, 4)))
    assert estimate_key(np.ones(12))[2] == -1.0  # a flat chroma matches no key


def test_key_names_round_trip():
    for mode in ("major", "minor"):
        for pc in range(12):
            assert tonic_pitch_class(tonic_name(pc, mode)) == pc
    assert tonic_name(3, "major") == "E-flat" and tonic_name(1, "minor") == "C-sharp"
    with pytest.raises(ValueError, match="not a key name"):
        tonic_pitch_class("H")
