"""Notes on an integer time grid, and the one canonical form that event tokens round-trip.

A note is ``(start, end, pitch, velocity)`` with ``start < end`` in grid steps (16th notes for
the chorales, 10 ms for performances). Two notes of the same pitch cannot sound at once in a
note-on/note-off stream (nor in MIDI: a note-off cannot say which of them it ends), so
:func:`canonical` resolves such overlaps the way a keyboard does: a new onset of a sounding
pitch ends the earlier note there and the new note lasts to the later of the two ends; two
onsets at the same step merge into one note. Onsets and the sounding time of every pitch are
kept; only the doubling of a pitch in two voices at once is lost.
"""

from __future__ import annotations

from typing import NamedTuple

DEFAULT_VELOCITY = 80


class Note(NamedTuple):
    start: int
    end: int
    pitch: int
    velocity: int = DEFAULT_VELOCITY


def canonical(notes: list[Note]) -> list[Note]:
    """Notes sorted by (start, pitch), zero-length ones dropped, same-pitch overlaps resolved
    (see the module docstring)."""
    by_pitch: dict[int, list[Note]] = {}
    for n in notes:
        if n.end > n.start:
            by_pitch.setdefault(n.pitch, []).append(n)
    out: list[Note] = []
    for group in by_pitch.values():
        group.sort(key=lambda n: (n.start, -n.end))
        kept: list[Note] = []
        for n in group:
            if kept and n.start < kept[-1].end:
                prev = kept[-1]
                if n.start == prev.start:  # the longer one was first: it covers this one
                    continue
                kept[-1] = prev._replace(end=n.start)
                n = n._replace(end=max(n.end, prev.end))
            kept.append(n)
        out += kept
    return sorted(out, key=lambda n: (n.start, n.pitch, n.end))


def transpose(notes: list[Note], semitones: int) -> list[Note]:
    return [n._replace(pitch=n.pitch + semitones) for n in notes]
