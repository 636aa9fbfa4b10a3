"""Notes <-> event tokens (Music Transformer's performance events, Oore et al. 2018).

Vocabulary: ``on<p>`` and ``off<p>`` for MIDI pitches 0..127, ``shift<k>`` for k = 1 ..
``max_shift`` grid steps (longer gaps are several shifts), and with ``velocity_bins`` > 0
``vel<b>`` (b = 0 .. bins-1), written before a note-on whose velocity bin differs from the
last one written. At each time step the note-offs come first, then the note-ons, each sorted
by pitch, then the shift to the next step with an event. The token list of a token dir is this
vocabulary framed as a word tokenizer's (``<blank>``, ``<unk>`` first, ``<sos/eos>`` last,
see :mod:`audiokit.text.tokenizer`), so a sequence of event names is a line of text.

:func:`encode` then :func:`decode` gives back :func:`~audiokit.music.notes.canonical` notes
exactly (velocities as their bin's centre when binned, the default velocity without bins).
:func:`decode` also reads what a model writes: a note-off of a silent pitch is ignored, a
note-on of a sounding pitch re-strikes it, notes still sounding at the end stop there.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from audiokit.music.notes import DEFAULT_VELOCITY, Note, canonical
from audiokit.text.tokenizer import BLANK, SOS_EOS, UNK

NUM_PITCHES = 128
SPEC_FILE = "tokenizer.json"


@dataclass(frozen=True)
class EventConfig:
    """The time grid and the vocabulary's size. ``steps_per_quarter`` (symbolic scores: the
    grid follows the beat) or ``step_seconds`` (performances) says what one step is."""

    max_shift: int = 16
    velocity_bins: int = 0
    steps_per_quarter: int | None = 4
    step_seconds: float | None = None

    def __post_init__(self) -> None:
        if (self.steps_per_quarter is None) == (self.step_seconds is None):
            raise ValueError("EventConfig: set exactly one of steps_per_quarter and step_seconds")
        if self.max_shift < 1 or self.velocity_bins < 0:
            raise ValueError(f"EventConfig: max_shift >= 1, velocity_bins >= 0; got {self}")

    def event_names(self) -> list[str]:
        names = [f"on{p}" for p in range(NUM_PITCHES)] + [f"off{p}" for p in range(NUM_PITCHES)]
        names += [f"shift{k}" for k in range(1, self.max_shift + 1)]
        return names + [f"vel{b}" for b in range(self.velocity_bins)]

    def token_list(self) -> list[str]:
        return [BLANK, UNK, *self.event_names(), SOS_EOS]

    def velocity_bin(self, velocity: int) -> int:
        return min(max(velocity, 0), 127) * self.velocity_bins // 128

    def bin_velocity(self, b: int) -> int:
        """The velocity a bin decodes to: the middle of its range."""
        lo, hi = -(-b * 128 // self.velocity_bins), -(-(b + 1) * 128 // self.velocity_bins) - 1
        return (lo + hi) // 2


def encode(notes: list[Note], cfg: EventConfig) -> list[str]:
    """Event names of the canonical form of ``notes``."""
    notes = canonical(notes)
    bounds: dict[int, tuple[list[int], list[Note]]] = {}
    for n in notes:
        bounds.setdefault(n.end, ([], []))[0].append(n.pitch)
        bounds.setdefault(n.start, ([], []))[1].append(n)
    out: list[str] = []
    now, velocity = 0, None
    for t in sorted(bounds):
        gap = t - now
        while gap > 0:
            k = min(gap, cfg.max_shift)
            out.append(f"shift{k}")
            gap -= k
        now = t
        offs, ons = bounds[t]
        out += [f"off{p}" for p in sorted(offs)]
        for n in sorted(ons, key=lambda n: n.pitch):
            if cfg.velocity_bins:
                b = cfg.velocity_bin(n.velocity)
                if b != velocity:
                    out.append(f"vel{b}")
                    velocity = b
            out.append(f"on{n.pitch}")
    return out


def decode(events: list[str], cfg: EventConfig) -> list[Note]:
    """Notes from event names (anything else, e.g. ``<sos/eos>``, is skipped)."""
    now = 0
    velocity = cfg.bin_velocity(cfg.velocity_bins // 2) if cfg.velocity_bins else DEFAULT_VELOCITY
    sounding: dict[int, tuple[int, int]] = {}  # pitch -> (start, velocity)
    notes: list[Note] = []

    def stop(p: int) -> None:
        start, vel = sounding.pop(p)
        if now > start:
            notes.append(Note(start, now, p, vel))

    for e in events:
        if e.startswith("shift"):
            now += int(e[5:])
        elif e.startswith("on"):
            p = int(e[2:])
            if p in sounding:
                stop(p)
            sounding[p] = (now, velocity)
        elif e.startswith("off"):
            p = int(e[3:])
            if p in sounding:
                stop(p)
        elif e.startswith("vel"):
            velocity = cfg.bin_velocity(int(e[3:]))
    for p in list(sounding):
        stop(p)
    return sorted(notes, key=lambda n: (n.start, n.pitch, n.end))


def transpose_events(events: list[str], semitones: int) -> list[str]:
    """Every ``on``/``off`` pitch moved by ``semitones`` (the caller keeps them in 0..127)."""
    def move(e: str) -> str:
        if e.startswith("on"):
            return f"on{int(e[2:]) + semitones}"
        if e.startswith("off"):
            return f"off{int(e[3:]) + semitones}"
        return e
    return [move(e) for e in events]


def write_token_dir(out: str | Path, cfg: EventConfig) -> dict:
    """``tokens.txt`` and ``tokenizer.json`` (a word tokenizer plus the grid, under "events")."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tokens = cfg.token_list()
    (out / "tokens.txt").write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    meta = {"kind": "word", "events": asdict(cfg), "vocab_size": len(tokens)}
    (out / SPEC_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return {"kind": "word", "tokens": tokens}


def read_event_config(token_dir: str | Path) -> EventConfig:
    path = Path(token_dir) / SPEC_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (write the token dir with "
                                "`audiokit-prep music-tokens`)")
    meta = json.loads(path.read_text(encoding="utf-8"))
    if "events" not in meta:
        raise ValueError(f"{path}: not a music token dir (no 'events' entry)")
    return EventConfig(**meta["events"])
