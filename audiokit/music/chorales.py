"""The Bach chorales inside the music21 wheel -> MIDI files and train/valid/test lists.

The split is by chorale and fixed: the first 8 hex digits of SHA-1 of the corpus name
(``bach/bwv269``) modulo 100 put it in train (0-79), valid (80-89) or test (90-99), so a
chorale keeps its split whatever else is in the corpus. Each chorale's parts (all of them:
most have the four voices, a few add instruments) are read as performed (repeats written out,
as music21's MIDI writer does; a score whose repeats cannot be expanded is read as written
and counted) with ties joined, placed on a grid
of ``steps_per_quarter`` steps (notes off the grid, e.g. triplets, are rounded to it and
counted; grace notes, which have no duration, are left out and counted) and made canonical
(:mod:`audiokit.music.notes`: unison doublings counted). A chorale that does not parse, or
holds no notes, is named in ``OUT/skipped`` and left out; it is never dropped silently.

music21 10.5's iterator gives 371 names, 350 distinct: 280 train, 36 valid, 34 test.

Writes ``OUT/midi/<id>.mid``, ``OUT/{train,valid,test}/midi.scp`` (``id /abs/path.mid``) and
``OUT/prep_report.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from audiokit.music.events import EventConfig
from audiokit.music.midi_io import write_midi
from audiokit.music.notes import Note, canonical

log = logging.getLogger(__name__)
SPLITS = ("train", "valid", "test")


def corpus_names() -> list[str]:
    """``bach/bwv269``, ... in the order of music21's chorale iterator, each once: the
    iterator follows Riemenschneider's catalogue, which lists some chorales twice (the same
    file each time)."""
    from music21 import corpus

    return list(dict.fromkeys(str(n) for n in corpus.chorales.Iterator(returnType="filename")))


def split_of(name: str) -> str:
    bucket = int(hashlib.sha1(name.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "train" if bucket < 80 else "valid" if bucket < 90 else "test"


def piece_id(name: str) -> str:
    return name.replace("/", "_")


def performed(score):
    """The score with its repeats written out (None if music21 cannot expand them)."""
    try:
        return score.expandRepeats()
    except Exception:  # music21's ExpandRepeatsException and friends
        return None


def score_notes(score, steps_per_quarter: int) -> tuple[list[Note], dict[str, int]]:
    """Grid notes of a music21 score, and counts of what the grid changed."""
    counts = {"off_grid": 0, "grace": 0, "overlaps": 0}
    notes = []
    for n in score.stripTies().flatten().notes:
        if n.duration.isGrace or n.quarterLength == 0:
            counts["grace"] += len(n.pitches)
            continue
        a, b = float(n.offset) * steps_per_quarter, float(n.offset + n.quarterLength) * steps_per_quarter
        start, end = round(a), round(b)
        if abs(a - start) > 1e-6 or abs(b - end) > 1e-6:
            counts["off_grid"] += len(n.pitches)
        notes += [Note(start, max(end, start + 1), p.midi) for p in n.pitches]
    kept = canonical(notes)
    kept_set = set(kept)
    counts["overlaps"] = sum(1 for n in notes if n not in kept_set)  # changed by canonical()
    return kept, counts


def prepare(out: str | Path, steps_per_quarter: int = 4, limit: int | None = None,
            names: list[str] | None = None) -> dict:
    """Write the chorales (at most ``limit`` per split, in corpus order) under ``out``."""
    from music21 import corpus

    out = Path(out).resolve()
    cfg = EventConfig(steps_per_quarter=steps_per_quarter)
    names = names if names is not None else corpus_names()
    lists: dict[str, list[str]] = {s: [] for s in SPLITS}
    skipped: dict[str, str] = {}
    totals = {"off_grid": 0, "grace": 0, "overlaps": 0, "notes": 0, "repeats_not_expanded": 0}
    for name in names:
        split = split_of(name)
        if limit is not None and len(lists[split]) >= limit:
            continue
        try:
            score = corpus.parse(name)
            expanded = performed(score)
            if expanded is None:
                totals["repeats_not_expanded"] += 1
                log.warning("chorale %s: repeats cannot be expanded: read as written", name)
            notes, counts = score_notes(expanded or score, steps_per_quarter)
        except Exception as e:  # music21 raises many kinds; the file is named and skipped
            skipped[name] = f"does not parse: {type(e).__name__}: {e}"
            log.warning("chorale %s does not parse (%s: %s): skipped", name, type(e).__name__, e)
            continue
        if not notes:
            skipped[name] = "no notes"
            log.warning("chorale %s holds no notes: skipped", name)
            continue
        pid = piece_id(name)
        path = out / "midi" / f"{pid}.mid"
        write_midi(notes, path, cfg)
        lists[split].append(f"{pid} {path}")
        for k, v in counts.items():
            totals[k] += v
        totals["notes"] += len(notes)
    for split, lines in lists.items():
        (out / split).mkdir(parents=True, exist_ok=True)
        (out / split / "midi.scp").write_text("".join(line + "\n" for line in sorted(lines)))
    (out / "skipped").write_text("".join(f"{n} {why}\n" for n, why in skipped.items()))
    report = {"pieces": {s: len(v) for s, v in lists.items()}, "skipped": skipped,
              "steps_per_quarter": steps_per_quarter, **totals}
    (out / "prep_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
