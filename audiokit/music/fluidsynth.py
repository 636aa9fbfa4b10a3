"""Render a clip with FluidSynth and a General MIDI soundfont, when both are installed
(Debian: ``apt-get install fluidsynth fluid-soundfont-gm``); the built-in synthesiser
(:mod:`audiokit.music.synth`) is the default and needs neither.

The clip's notes go to a one-track MIDI file (:func:`audiokit.music.midi_io.write_midi`) with
the timbre's GM program, ``fluidsynth -ni`` writes it at the clip's rate, and the result is
averaged to mono, cut or padded to the clip's length and brought to the same RMS as the
built-in synthesiser's clips.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from audiokit.music.events import EventConfig
from audiokit.music.midi_io import write_midi
from audiokit.music.notes import Note

GM_PROGRAMS = {"organ": 19, "strings": 48, "flute": 73, "piano": 0, "brass": 61}  # 0-based
DEFAULT_SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2",
                      "/usr/share/sounds/sf2/default-GM.sf2")


def find_soundfont(soundfont: str | None = None) -> str:
    """``soundfont`` if given, else the first Debian GM soundfont found; an error says what
    to install."""
    if soundfont:
        if not Path(soundfont).is_file():
            raise FileNotFoundError(f"{soundfont}: no such soundfont")
        return soundfont
    for path in DEFAULT_SOUNDFONTS:
        if Path(path).is_file():
            return path
    raise FileNotFoundError("no General MIDI soundfont found (apt-get install fluid-soundfont-gm, "
                            "or pass --soundfont FILE.sf2)")


def available(soundfont: str | None = None) -> bool:
    try:
        find_soundfont(soundfont)
    except FileNotFoundError:
        return False
    return shutil.which("fluidsynth") is not None


def render_fluidsynth(notes: list[Note], steps_per_quarter: int, bpm: float, timbre: str,
                      sample_rate: int, duration: float, soundfont: str | None = None,
                      rms: float = 0.1) -> np.ndarray:
    if shutil.which("fluidsynth") is None:
        raise FileNotFoundError("fluidsynth is not installed (apt-get install fluidsynth), "
                                "or render with --synth builtin")
    font = find_soundfont(soundfont)
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "clip.mid", Path(tmp) / "clip.wav"
        write_midi(notes, mid, EventConfig(steps_per_quarter=steps_per_quarter), bpm=bpm,
                   program=GM_PROGRAMS[timbre])
        proc = subprocess.run(["fluidsynth", "-ni", "-g", "0.5", "-r", str(sample_rate),
                               "-F", str(wav), font, str(mid)], capture_output=True, text=True)
        if proc.returncode != 0 or not wav.is_file():
            raise RuntimeError(f"fluidsynth failed on {mid}: {proc.stderr.strip()[-500:]}")
        audio, rate = sf.read(wav, dtype="float64", always_2d=True)
    if rate != sample_rate:
        raise RuntimeError(f"fluidsynth wrote {rate} Hz, asked for {sample_rate} Hz")
    audio = audio.mean(axis=1)
    total = int(round(duration * sample_rate))
    audio = np.pad(audio[:total], (0, max(0, total - len(audio))))
    level = np.sqrt(np.mean(audio ** 2))
    if level > 0:
        audio *= rms / level
        audio *= min(1.0, 0.99 / max(np.abs(audio).max(), 1e-9))
    return audio.astype(np.float32)
