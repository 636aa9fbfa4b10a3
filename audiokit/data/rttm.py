"""NIST RTTM files (who speaks when) and frame-level speaker activity.

A ``SPEAKER`` line is ``SPEAKER reco 1 start dur <NA> <NA> speaker <NA> <NA>``, times in
seconds. Reading rules:

- blank lines and comments (``;`` or ``#``) are skipped; so are lines of the other NIST RTTM
  types (``SPKR-INFO``, ``SEGMENT``, ``LEXEME`` ...), which carry no speaker turns. Any other
  first field is an error: it usually means a file that is not RTTM (a ``segments`` file...).
- a ``SPEAKER`` line needs at least 8 fields, numeric ``start >= 0`` and ``dur > 0``;
  a zero duration is an error too (no scorer can use it, and it hints at a broken writer).
- turns of different speakers may overlap (overlapped speech). Overlapping or touching turns
  of the same speaker are merged into one, with a warning naming the lines: scorers count a
  speaker once at any time, so the merge changes no score, and models see one clean turn.

Every error is an :class:`RttmError` naming the file and the line.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import numpy as np

from audiokit.data.datadir import DataDirError

log = logging.getLogger(__name__)

# NIST RTTM line types other than SPEAKER: read past (SPKR-INFO repeats the speakers, the rest
# are transcription layers).
OTHER_TYPES = frozenset({"SPKR-INFO", "SEGMENT", "NOSCORE", "NO_RT_METADATA", "LEXEME",
                         "NON-LEX", "NON-SPEECH", "FILLER", "EDITTYPE", "IP", "SU", "CB", "A/P"})
# Turns whose ends lie this close (seconds) count as touching; RTTM times are written to 1 ms.
TOUCH = 1e-6


class Turn(NamedTuple):
    """One speaker turn, in seconds: ``start <= t < end``."""

    start: float
    end: float
    speaker: str


class RttmError(DataDirError):
    """A malformed RTTM file; the message names the file and the line. (A DataDirError, so the
    command-line tools report it like any other bad data-dir file; hence also a ValueError.)"""


def read_rttm(path: str | Path) -> dict[str, list[Turn]]:
    """``{recording: [Turn, ...]}`` from an RTTM file, each list sorted by start."""
    path = Path(path)
    raw: dict[str, list[tuple[Turn, int]]] = defaultdict(list)  # reco -> (turn, line number)
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith((";", "#")):
            continue
        where = f"{path}:{lineno}"
        if fields[0] != "SPEAKER":
            if fields[0] in OTHER_TYPES:
                continue
            raise RttmError(f"{where}: unknown line type {fields[0]!r} (expected SPEAKER or "
                            f"another NIST RTTM type): {line.strip()!r}")
        if len(fields) < 8:
            raise RttmError(f"{where}: {len(fields)} fields, expected 'SPEAKER reco channel "
                            f"start dur <NA> <NA> speaker ...': {line.strip()!r}")
        reco, speaker = fields[1], fields[7]
        try:
            start, dur = float(fields[3]), float(fields[4])
        except ValueError:
            raise RttmError(f"{where}: start and duration must be numbers, got {fields[3]!r} "
                            f"and {fields[4]!r}") from None
        if not (math.isfinite(start) and math.isfinite(dur)):
            raise RttmError(f"{where}: start and duration must be finite, got {start}, {dur}")
        if start < 0:
            raise RttmError(f"{where}: negative start time {start}")
        if dur <= 0:
            raise RttmError(f"{where}: duration must be positive, got {dur}")
        raw[reco].append((Turn(start, start + dur, speaker), lineno))
    return {reco: _merge_same_speaker(path, reco, entries) for reco, entries in raw.items()}


def _merge_same_speaker(path: Path, reco: str, entries: list[tuple[Turn, int]]) -> list[Turn]:
    """Merge each speaker's overlapping or touching turns (with a warning), sort by start."""
    merged: list[Turn] = []
    by_speaker: dict[str, list[tuple[Turn, int]]] = defaultdict(list)
    for turn, lineno in entries:
        by_speaker[turn.speaker].append((turn, lineno))
    for speaker, items in by_speaker.items():
        items.sort()
        group_turn, group_lines = items[0][0], [items[0][1]]
        for turn, lineno in items[1:]:
            if turn.start <= group_turn.end + TOUCH:
                group_turn = group_turn._replace(end=max(group_turn.end, turn.end))
                group_lines.append(lineno)
                continue
            merged.append(_warn_merged(path, reco, speaker, group_turn, group_lines))
            group_turn, group_lines = turn, [lineno]
        merged.append(_warn_merged(path, reco, speaker, group_turn, group_lines))
    return sorted(merged)


def _warn_merged(path: Path, reco: str, speaker: str, turn: Turn, lines: list[int]) -> Turn:
    if len(lines) > 1:
        log.warning("%s: recording '%s', speaker '%s': overlapping or touching turns on lines "
                    "%s merged into %.3f-%.3f", path, reco, speaker,
                    ", ".join(map(str, sorted(lines))), turn.start, turn.end)
    return turn


def write_rttm(path: str | Path, turns_by_reco: dict[str, list[Turn]]) -> None:
    """Write SPEAKER lines sorted by recording then start, times to 1 ms, atomically.

    Start and end are rounded to the 1 ms grid and the duration is their difference, so a
    reader gets back the rounded ends. A turn shorter than 1 ms on that grid cannot be written
    (its duration would be 0) and is left out with a warning; an ``end <= start`` is an error.
    """
    path = Path(path)
    lines, dropped = [], 0
    for reco in sorted(turns_by_reco):
        for turn in sorted(turns_by_reco[reco]):
            if not turn.end > turn.start >= 0:
                raise ValueError(f"{path}: recording '{reco}': bad turn {turn}")
            start, end = round(turn.start, 3), round(turn.end, 3)
            if end <= start:
                dropped += 1
                continue
            lines.append(f"SPEAKER {reco} 1 {start:.3f} {end - start:.3f} <NA> <NA> "
                         f"{turn.speaker} <NA> <NA>\n")
    if dropped:
        log.warning("%s: %d turn(s) shorter than 1 ms left out", path, dropped)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(path)


def frame_labels(turns: list[Turn], speakers: list[str], num_frames: int, frame_shift: float,
                 offset: float = 0.0) -> np.ndarray:
    """Speaker activity ``[num_frames, len(speakers)]`` (float32 0/1).

    Frame ``i`` covers ``[offset + i * frame_shift, offset + (i + 1) * frame_shift)`` and is
    active for a speaker when its centre lies in one of their turns (``start <= centre < end``):
    the centre rule gives each boundary to exactly one side, so turns that touch never both
    claim a frame. A turn of a speaker missing from ``speakers`` is an error.
    """
    column = {s: k for k, s in enumerate(speakers)}
    labels = np.zeros((num_frames, len(speakers)), dtype=np.float32)
    centres = offset + (np.arange(num_frames) + 0.5) * frame_shift
    for turn in turns:
        if turn.speaker not in column:
            raise ValueError(f"turn {turn}: speaker '{turn.speaker}' not in {speakers}")
        lo, hi = np.searchsorted(centres, [turn.start, turn.end], side="left")
        labels[lo:hi, column[turn.speaker]] = 1.0
    return labels


def labels_to_turns(activity: np.ndarray, frame_shift: float, speakers: list[str],
                    offset: float = 0.0) -> list[Turn]:
    """Turns from frame activity ``[T, S]`` (bool or 0/1; probabilities are cut at 0.5): each
    run of active frames ``[a, b)`` becomes ``[offset + a * shift, offset + b * shift)``, the
    inverse of :func:`frame_labels`. Sorted by start, then speaker."""
    active = np.asarray(activity) > 0.5
    if active.ndim != 2 or active.shape[1] != len(speakers):
        raise ValueError(f"activity of shape {active.shape} for {len(speakers)} speakers")
    turns = []
    for k, speaker in enumerate(speakers):
        # +1 where a run starts, -1 just after it ends (padding closes runs at both edges)
        edges = np.diff(np.concatenate([[0], active[:, k].astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        turns += [Turn(float(offset + a * frame_shift), float(offset + b * frame_shift), speaker)
                  for a, b in zip(starts, ends, strict=True)]
    return sorted(turns)


def to_annotation(turns: list[Turn], uri: str):
    """A ``pyannote.core.Annotation`` of the turns (pyannote is imported only here)."""
    from pyannote.core import Annotation, Segment

    annotation = Annotation(uri=uri)
    for k, turn in enumerate(turns):  # a track per turn: equal segments of two speakers coexist
        annotation[Segment(turn.start, turn.end), k] = turn.speaker
    return annotation
