"""FluidSynth rendering: an optional path (Debian fluidsynth + fluid-soundfont-gm). Without
them the error says what to install; with them a clip comes back mono, at the clip's length
and level, its loudest partial on a harmonic of the note."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from audiokit.music import fluidsynth
from audiokit.music.notes import Note


def test_missing_soundfont_or_program_is_explained(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no such soundfont"):
        fluidsynth.find_soundfont(str(tmp_path / "none.sf2"))
    monkeypatch.setattr(fluidsynth, "DEFAULT_SOUNDFONTS", (str(tmp_path / "none.sf2"),))
    with pytest.raises(FileNotFoundError, match="apt-get install fluid-soundfont-gm"):
        fluidsynth.find_soundfont()
    assert not fluidsynth.available()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="fluidsynth is not installed"):
        fluidsynth.render_fluidsynth([Note(0, 4, 69)], 4, 120.0, "organ", 16000, 1.0)


@pytest.mark.skipif(not fluidsynth.available(), reason="fluidsynth or a GM soundfont not installed")
def test_renders_a_clip():
    audio = fluidsynth.render_fluidsynth([Note(0, 8, 69)], 4, 120.0, "flute", 16000, 1.5)
    assert audio.shape == (24000,) and np.sqrt(np.mean(audio.astype(float) ** 2)) == pytest.approx(0.1, rel=0.05)
    freqs = np.fft.rfftfreq(16000, 1 / 16000)
    peak = freqs[np.argmax(np.abs(np.fft.rfft(audio[:16000])))]
    assert abs(peak / 440.0 - round(peak / 440.0)) < 0.02
