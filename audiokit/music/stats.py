"""What a set of pieces sounds like, in numbers: pitch-class and interval histograms, note
density, and tonality by music21's key analysis. Generated pieces are judged by how close
these come to the real test chorales' own values.

Per piece (notes on a grid of ``steps_per_quarter``):

- ``pc_hist``: share of notes per pitch class (12 bins);
- ``interval_hist``: for each note, the interval in semitones from the nearest pitch sounding
  at the previous onset (the smallest move, as a voice would make it), clipped to +-12 (25 bins);
- ``notes_per_quarter``: notes per quarter note from the first onset to the last release;
- ``key``: music21's ``analyze('key')`` (Krumhansl-Schmuckler with Aarden-Essen weights) of
  the whole piece; ``key_correlation``: its correlation coefficient with the key profile;
- ``in_key``: share of notes whose pitch class is in that key's scale;
- ``key_consistency``: share of windows of ``window_quarters`` quarter notes (with at least
  4 notes) whose own estimated key is the piece's key.

For a set against a reference set: the histogram distance of a piece is the total-variation
distance (half the L1) between its histogram and the reference set's pooled histogram; for
the reference pieces themselves, against the pooled histogram of the others (leave one out).
"""

from __future__ import annotations

import numpy as np

from audiokit.music.notes import Note

INTERVAL_RANGE = 12
MIN_WINDOW_NOTES = 4


def pc_counts(notes: list[Note]) -> np.ndarray:
    return np.bincount([n.pitch % 12 for n in notes], minlength=12).astype(float)


def interval_counts(notes: list[Note]) -> np.ndarray:
    onsets: dict[int, list[int]] = {}
    for n in notes:
        onsets.setdefault(n.start, []).append(n.pitch)
    times = sorted(onsets)
    moves = []
    for prev, now in zip(times, times[1:], strict=False):
        before = np.array(onsets[prev])
        for p in onsets[now]:
            d = p - before
            moves.append(int(d[np.argmin(np.abs(d) * 2 + (d > 0))]))  # ties: the move down
    clipped = np.clip(moves, -INTERVAL_RANGE, INTERVAL_RANGE) + INTERVAL_RANGE
    return np.bincount(clipped.astype(int), minlength=2 * INTERVAL_RANGE + 1).astype(float)


def _stream(notes: list[Note], steps_per_quarter: int):
    from music21 import note, stream

    s = stream.Stream()
    for n in notes:
        s.insert(n.start / steps_per_quarter,
                 note.Note(n.pitch, quarterLength=(n.end - n.start) / steps_per_quarter))
    return s


def analyze_key(notes: list[Note], steps_per_quarter: int, method: str = "key"):
    """music21's key analysis; ``method`` names its weights ("key": Aarden-Essen,
    "key.krumhansl": Krumhansl-Kessler)."""
    return _stream(notes, steps_per_quarter).analyze(method)


def piece_stats(notes: list[Note], steps_per_quarter: int = 4, window_quarters: int = 8) -> dict:
    if not notes:
        raise ValueError("a piece without notes has no statistics")
    key = analyze_key(notes, steps_per_quarter)
    scale = {p.pitchClass for p in key.pitches}
    span = (max(n.end for n in notes) - min(n.start for n in notes)) / steps_per_quarter
    window = window_quarters * steps_per_quarter
    same = total = 0
    for w0 in range(min(n.start for n in notes), max(n.start for n in notes) + 1, window):
        part = [n for n in notes if w0 <= n.start < w0 + window]
        if len(part) >= MIN_WINDOW_NOTES:
            local = analyze_key(part, steps_per_quarter)
            same += (local.tonic.pitchClass, local.mode) == (key.tonic.pitchClass, key.mode)
            total += 1
    return {"pc_counts": pc_counts(notes), "interval_counts": interval_counts(notes),
            "notes_per_quarter": len(notes) / max(span, 1e-9), "num_notes": len(notes),
            "key": f"{key.tonic.name} {key.mode}", "key_correlation": float(key.correlationCoefficient),
            "in_key": sum(n.pitch % 12 in scale for n in notes) / len(notes),
            "key_consistency": same / total if total else float("nan")}


def tv_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Total-variation distance of two count vectors, each normalised to sum 1."""
    return 0.5 * float(np.abs(p / max(p.sum(), 1e-12) - q / max(q.sum(), 1e-12)).sum())


def hist_distances(pieces: list[dict], reference: list[dict], key: str,
                   leave_one_out: bool = False) -> list[float]:
    pooled = sum(r[key] for r in reference)
    return [tv_distance(p[key], pooled - p[key] if leave_one_out else pooled) for p in pieces]


def summarize(pieces: list[dict], reference: list[dict], is_reference: bool = False) -> dict:
    """Means over ``pieces`` (histogram distances against ``reference``, leave-one-out when
    the pieces are the reference set)."""
    def mean(values) -> float:
        values = [v for v in values if not np.isnan(v)]
        return float(np.mean(values)) if values else float("nan")
    return {
        "pitch_class_distance": mean(hist_distances(pieces, reference, "pc_counts", is_reference)),
        "interval_distance": mean(hist_distances(pieces, reference, "interval_counts",
                                                 is_reference)),
        "key_consistency": mean(p["key_consistency"] for p in pieces),
        "key_correlation": mean(p["key_correlation"] for p in pieces),
        "in_key": mean(p["in_key"] for p in pieces),
        "notes_per_quarter": mean(p["notes_per_quarter"] for p in pieces),
        "notes_per_piece": mean(p["num_notes"] for p in pieces),
        "num_pieces": len(pieces),
    }
