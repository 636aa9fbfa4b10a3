"""The facts of a rendered chorale clip, their names, the caption made from them, and which
combinations are held out of training.

A clip's facts: ``timbre`` (organ, strings, flute, piano, brass), ``tempo`` class (slow,
moderate, fast: quarter notes per minute in :data:`TEMPO_BPM`, with gaps between the classes
so that a class can be heard), ``key`` (the tonic, spelled as key signatures usually are:
``E-flat`` major, ``C-sharp`` minor) and ``mode`` (major, minor). The caption states them:
"a slow chorale in D minor played on organ".

Held out: the 12 (timbre, tempo, mode) triples of :data:`HELD_OUT` (two timbres for each
tempo and mode; every timbre, tempo and mode is in some held-out triple, and every
(timbre, tempo) pair keeps one mode in training). Training and validation clips never have
them; every test clip has one. So test captions are combinations no training caption has, on
chorales no training clip comes from.
"""

from __future__ import annotations

TIMBRE_NAMES = ("organ", "strings", "flute", "piano", "brass")
TEMPO_BPM = {"slow": (60.0, 72.0), "moderate": (88.0, 104.0), "fast": (120.0, 140.0)}
MODES = ("major", "minor")
FACT_FILES = {"timbre": "utt2timbre", "tempo": "utt2tempo", "key": "utt2key", "mode": "utt2mode"}

# tonic pitch class -> name, by mode (the spelling with the fewer accidentals)
TONIC_NAMES = {
    "major": ("C", "D-flat", "D", "E-flat", "E", "F", "F-sharp", "G", "A-flat", "A", "B-flat", "B"),
    "minor": ("C", "C-sharp", "D", "E-flat", "E", "F", "F-sharp", "G", "G-sharp", "A", "B-flat", "B"),
}
_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def _held_out() -> frozenset[tuple[str, str, str]]:
    triples = set()
    for cell, (tempo, mode) in enumerate((t, m) for t in TEMPO_BPM for m in MODES):
        for k in (2 * cell, 2 * cell + 1):
            triples.add((TIMBRE_NAMES[k % len(TIMBRE_NAMES)], tempo, mode))
    return frozenset(triples)


HELD_OUT = _held_out()


def is_held_out(timbre: str, tempo: str, mode: str) -> bool:
    return (timbre, tempo, mode) in HELD_OUT


def tonic_name(pitch_class: int, mode: str) -> str:
    return TONIC_NAMES[mode][pitch_class % 12]


def tonic_pitch_class(name: str) -> int:
    """``E-flat`` -> 3, ``C-sharp`` -> 1 (any letter with -flat / -sharp)."""
    letter, _, accidental = name.partition("-")
    if letter not in _LETTER_PC or accidental not in ("", "flat", "sharp"):
        raise ValueError(f"not a key name: {name!r} (e.g. C, E-flat, F-sharp)")
    return (_LETTER_PC[letter] + {"": 0, "flat": -1, "sharp": 1}[accidental]) % 12


def tempo_class(bpm: float) -> str:
    """The class whose range holds ``bpm`` (a value between ranges: the nearest one)."""
    return min(TEMPO_BPM, key=lambda c: max(TEMPO_BPM[c][0] - bpm, bpm - TEMPO_BPM[c][1], 0.0))


def caption(timbre: str, tempo: str, key: str, mode: str) -> str:
    return f"a {tempo} chorale in {key} {mode} played on {timbre}"
