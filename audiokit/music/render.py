"""Chorales (the MIDI of ``audiokit-prep chorales``) -> captioned audio clips for text-to-music.

For each chorale of a split, ``clips_per_chorale`` clips of ``clip_seconds`` at
``sample_rate`` (mono). Each clip draws, from its own seeded generator (the seed and the
clip id: the same clip whatever else is rendered):

1. a tempo class and a tempo inside its range (:data:`~audiokit.music.t2m_facts.TEMPO_BPM`);
2. a transposition of -6..+5 semitones (moved by an octave if it would leave MIDI 24-96);
3. a window start on a quarter-note boundary, long enough to fill the clip at that tempo;
4. the key and mode: music21's key analysis (Krumhansl-Schmuckler with the Krumhansl-Kessler
   profiles, :data:`KEY_METHOD`) of the transposed notes inside the window, i.e. of what the
   clip plays (a chorale that modulates gets the key of that passage). The audio judge
   (:mod:`audiokit.music.chroma_key`) correlates a chromagram with the same profiles, so
   a clip's label and its judged key differ only where the audio differs from its notes,
   not where two profile sets disagree (recipes/chorales/t2m/README.md);
5. a timbre among those whose (timbre, tempo, mode) triple the split allows: held-out
   triples (:data:`~audiokit.music.t2m_facts.HELD_OUT`) only in test, never in train/valid.

Splits follow the chorales' own (fixed, by chorale): train clips from train chorales, and so
on. Rendering: the built-in synthesiser (:mod:`audiokit.music.synth`, the default) or
FluidSynth with a General MIDI soundfont (:mod:`audiokit.music.fluidsynth`).

Writes ``OUT/{split}/``: ``wav.scp``, ``utt2dur``, ``text`` (the caption), ``utt2timbre``,
``utt2tempo``, ``utt2key``, ``utt2mode``, ``utt2bpm``, ``utt2source`` (chorale, transposition,
window start in quarter notes); audio in ``OUT/wav/{split}/<utt>.wav`` (16-bit PCM);
``OUT/labels/{timbre,tempo,mode}.txt`` (every class, for the judges' label lists) and
``OUT/render_report.json``. A MIDI file that cannot be read is named in ``OUT/skipped_render``
and left out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from audiokit.data.datadir import DataDir, read_kaldi_map, write_list
from audiokit.music import t2m_facts as facts
from audiokit.music.events import EventConfig
from audiokit.music.midi_io import MidiError, read_midi
from audiokit.music.notes import Note, transpose
from audiokit.music.stats import analyze_key
from audiokit.music.synth import TimedNote, render_notes

log = logging.getLogger(__name__)
STEPS_PER_QUARTER = 4
SPLITS = ("train", "valid", "test")
PITCH_RANGE = (24, 96)
MIN_WINDOW_NOTES = 8
KEY_METHOD = "key.krumhansl"  # music21's Krumhansl-Schmuckler with Krumhansl-Kessler weights


@dataclass
class RenderConfig:
    clip_seconds: float = 6.0
    sample_rate: int = 16000
    clips_per_chorale: dict[str, int] = field(
        default_factory=lambda: {"train": 2, "valid": 2, "test": 3})
    transpose: tuple[int, int] = (-6, 5)
    seed: int = 0
    synth: str = "builtin"          # builtin | fluidsynth
    soundfont: str | None = None    # fluidsynth only (default: the Debian GM soundfont)


@dataclass
class Clip:
    utt: str
    chorale: str
    transposition: int
    start_quarter: int
    bpm: float
    tempo: str
    key: str
    mode: str
    timbre: str
    notes: list[Note]  # transposed, cut to the window, steps from the window's start

    @property
    def caption(self) -> str:
        return facts.caption(self.timbre, self.tempo, self.key, self.mode)


def clip_rng(seed: int, utt: str) -> np.random.Generator:
    return np.random.default_rng([seed, int(hashlib.sha1(utt.encode()).hexdigest()[:8], 16)])


def window_notes(notes: list[Note], start: int, length: int) -> list[Note]:
    """Notes sounding in ``[start, start + length)`` steps, cut to it, times from its start."""
    end = start + length
    return [Note(max(n.start, start) - start, min(n.end, end) - start, n.pitch, n.velocity)
            for n in notes if n.start < end and n.end > start]


def _transposition(notes: list[Note], rng: np.random.Generator, lo: int, hi: int) -> int:
    shift = int(rng.integers(lo, hi + 1))
    top, bottom = max(n.pitch for n in notes), min(n.pitch for n in notes)
    while top + shift > PITCH_RANGE[1]:
        shift -= 12
    while bottom + shift < PITCH_RANGE[0]:
        shift += 12
    return shift


def plan_clip(utt: str, chorale: str, notes: list[Note], split: str, cfg: RenderConfig) -> Clip:
    """The facts and notes of one clip (see the module docstring for the order of draws)."""
    rng = clip_rng(cfg.seed, utt)
    tempo = list(facts.TEMPO_BPM)[int(rng.integers(len(facts.TEMPO_BPM)))]
    bpm = round(float(rng.uniform(*facts.TEMPO_BPM[tempo])), 1)
    shift = _transposition(notes, rng, *cfg.transpose)
    length = math.ceil(cfg.clip_seconds * bpm / 60 * STEPS_PER_QUARTER)
    first = min(n.start for n in notes) // STEPS_PER_QUARTER
    last = (max(n.end for n in notes) - length) // STEPS_PER_QUARTER
    starts = [q for q in range(first, max(first, last) + 1)
              if len(window_notes(notes, q * STEPS_PER_QUARTER, length)) >= MIN_WINDOW_NOTES]
    start_q = starts[int(rng.integers(len(starts)))] if starts else first
    part = transpose(window_notes(notes, start_q * STEPS_PER_QUARTER, length), shift)
    key = analyze_key(part, STEPS_PER_QUARTER, KEY_METHOD)
    mode = key.mode if key.mode in facts.MODES else "major"
    allowed = [t for t in facts.TIMBRE_NAMES
               if facts.is_held_out(t, tempo, mode) == (split == "test")]
    timbre = allowed[int(rng.integers(len(allowed)))]
    return Clip(utt, chorale, shift, start_q, bpm, tempo,
                facts.tonic_name(key.tonic.pitchClass, mode), mode, timbre, part)


def timed_notes(clip: Clip) -> list[TimedNote]:
    step = 60.0 / clip.bpm / STEPS_PER_QUARTER
    return [TimedNote(n.start * step, (n.end - n.start) * step, n.pitch, n.velocity)
            for n in clip.notes]


def render_clip(clip: Clip, cfg: RenderConfig) -> np.ndarray:
    if cfg.synth == "fluidsynth":
        from audiokit.music.fluidsynth import render_fluidsynth

        return render_fluidsynth(clip.notes, STEPS_PER_QUARTER, clip.bpm, clip.timbre,
                                 cfg.sample_rate, cfg.clip_seconds, cfg.soundfont)
    if cfg.synth != "builtin":
        raise ValueError(f"synth must be builtin or fluidsynth, got {cfg.synth!r}")
    # a generator of its own for the audio, so the plan's draws stay the same either way
    rng = clip_rng(cfg.seed + 1, clip.utt)
    return render_notes(timed_notes(clip), clip.timbre, cfg.sample_rate, cfg.clip_seconds, rng)


def render_split(chorales: dict[str, str], split: str, out: Path, cfg: RenderConfig,
                 skipped: dict[str, str]) -> DataDir:
    """Clips of the chorales ``{id: midi path}`` -> the data dir ``out/split``."""
    wav_dir = out / "wav" / split
    wav_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, str]] = {name: {} for name in (
        "utt2timbre", "utt2tempo", "utt2key", "utt2mode", "utt2bpm", "utt2source")}
    wav_scp, text, utt2dur = {}, {}, {}
    grid = EventConfig(steps_per_quarter=STEPS_PER_QUARTER)
    for chorale, path in chorales.items():
        try:
            notes = read_midi(path, grid)
        except MidiError as e:
            skipped[chorale] = str(e)
            log.warning("%s: skipped", e)
            continue
        if not notes:
            skipped[chorale] = f"{path}: no notes"
            log.warning("%s: no notes: skipped", path)
            continue
        for k in range(cfg.clips_per_chorale.get(split, 0)):
            clip = plan_clip(f"{chorale}_c{k}", chorale, notes, split, cfg)
            wav = wav_dir / f"{clip.utt}.wav"
            sf.write(wav, render_clip(clip, cfg), cfg.sample_rate, subtype="PCM_16")
            wav_scp[clip.utt], text[clip.utt] = str(wav), clip.caption
            utt2dur[clip.utt] = cfg.clip_seconds
            for name, value in (("utt2timbre", clip.timbre), ("utt2tempo", clip.tempo),
                                ("utt2key", clip.key), ("utt2mode", clip.mode),
                                ("utt2bpm", f"{clip.bpm:.1f}"),
                                ("utt2source", f"{chorale} transpose={clip.transposition:+d} "
                                               f"start_quarter={clip.start_quarter}")):
                files[name][clip.utt] = value
    d = DataDir(path=out / split, wav_scp=wav_scp, text=text, utt2dur=utt2dur, extra=files)
    d.write()
    return d


def render(chorales_dir: str | Path, out: str | Path, cfg: RenderConfig,
           limit: int | None = None, splits: tuple[str, ...] = SPLITS) -> dict:
    """Render every split of ``chorales_dir`` (``{split}/midi.scp``) into ``out``."""
    chorales_dir, out = Path(chorales_dir), Path(out).resolve()
    report: dict = {"config": asdict(cfg), "held_out": sorted(facts.HELD_OUT), "splits": {}}
    skipped: dict[str, str] = {}
    for split in splits:
        scp = chorales_dir / split / "midi.scp"
        if not scp.is_file():
            raise FileNotFoundError(f"{scp}: missing (run audiokit-prep chorales --out {chorales_dir})")
        chorales = dict(list(read_kaldi_map(scp).items())[:limit])
        d = render_split(chorales, split, out, cfg, skipped)
        counts = {name: dict(sorted(Counter(d.extra[f].values()).items()))
                  for name, f in facts.FACT_FILES.items() if name != "key"}
        counts["keys"] = len(set(zip(d.extra["utt2key"].values(), d.extra["utt2mode"].values(),
                                     strict=True)))
        report["splits"][split] = {"clips": len(d), "chorales": len(chorales), **counts}
    # every value of each judged fact, so a judge's classes do not depend on the slice rendered
    (out / "labels").mkdir(exist_ok=True)
    for name, values in (("timbre", facts.TIMBRE_NAMES), ("tempo", tuple(facts.TEMPO_BPM)),
                         ("mode", facts.MODES)):
        write_list(out / "labels" / f"{name}.txt", list(values))
    (out / "skipped_render").write_text("".join(f"{c} {why}\n" for c, why in skipped.items()))
    report["skipped"] = skipped
    (out / "render_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
