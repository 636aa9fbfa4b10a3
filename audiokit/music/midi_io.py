"""MIDI files <-> notes on a grid, with music21's low-level MIDI reader and writer.

Reading: every track's note-ons (velocity > 0) and note-offs (or note-ons with velocity 0),
matched per (channel, pitch) as a keyboard does (a new onset of a sounding pitch ends it);
drum channel 10 is left out. Times go to grid steps by the beat (``steps_per_quarter``) or,
through the file's tempo map, by the clock (``step_seconds``); then :func:`canonical`.
Writing: one track, ``TICKS_PER_QUARTER`` ticks per quarter note, the given tempo.
"""

from __future__ import annotations

from pathlib import Path

from music21 import midi

from audiokit.music.events import EventConfig
from audiokit.music.notes import Note, canonical

TICKS_PER_QUARTER = 480
DRUM_CHANNEL = 10  # music21 numbers channels 1..16


class MidiError(ValueError):
    """A MIDI file that cannot be read; the message names the file."""


def _tempo_map(mf: midi.MidiFile) -> list[tuple[int, int]]:
    """``(tick, microseconds per quarter)`` changes, from every track, sorted."""
    changes = [(0, 500_000)]
    for track in mf.tracks:
        tick = 0
        for e in track.events:
            if e.isDeltaTime():
                tick += e.time
            elif e.type == midi.MetaEvents.SET_TEMPO:
                data = e.data if isinstance(e.data, bytes) else bytes(e.data)
                changes.append((tick, int.from_bytes(data[:3], "big")))
    return sorted(changes, key=lambda c: c[0])


def _tick_to_seconds(mf: midi.MidiFile):
    tpq = mf.ticksPerQuarterNote
    segments, seconds, last_tick, last_tempo = [], 0.0, 0, 500_000
    for tick, tempo in _tempo_map(mf):
        seconds += (tick - last_tick) * last_tempo / 1e6 / tpq
        segments.append((tick, seconds, tempo))
        last_tick, last_tempo = tick, tempo

    def convert(tick: int) -> float:
        t0, s0, tempo = next(s for s in reversed(segments) if s[0] <= tick)
        return s0 + (tick - t0) * tempo / 1e6 / tpq
    return convert


def read_midi(path: str | Path, cfg: EventConfig) -> list[Note]:
    """Canonical notes of a MIDI file on ``cfg``'s grid (:class:`MidiError` if unreadable)."""
    mf = midi.MidiFile()
    try:
        mf.open(str(path))
        try:
            mf.read()
        finally:
            mf.close()
    except Exception as e:  # music21 raises MidiException, IndexError, struct errors ...
        raise MidiError(f"{path}: not a readable MIDI file ({type(e).__name__}: {e})") from None
    if mf.ticksPerSecond:
        raise MidiError(f"{path}: SMPTE time division is not supported")
    if cfg.steps_per_quarter is not None:
        per_step = mf.ticksPerQuarterNote / cfg.steps_per_quarter

        def step(tick: int) -> int:
            return round(tick / per_step)
    else:
        seconds = _tick_to_seconds(mf)

        def step(tick: int) -> int:
            return round(seconds(tick) / cfg.step_seconds)
    notes: list[Note] = []
    for track in mf.tracks:
        tick, sounding = 0, {}
        for e in track.events:
            if e.isDeltaTime():
                tick += e.time
                continue
            if e.channel == DRUM_CHANNEL or not (e.isNoteOn() or e.isNoteOff()):
                continue
            key = (e.channel, e.pitch)
            if key in sounding:  # a note-off, or a re-strike, ends the sounding note
                start, vel = sounding.pop(key)
                notes.append(Note(step(start), step(tick), e.pitch, vel))
            if e.isNoteOn():
                sounding[key] = (tick, e.velocity)
        for (_, pitch), (start, vel) in sounding.items():  # never released: ends at track end
            notes.append(Note(step(start), step(tick), pitch, vel))
    return canonical(notes)


def write_midi(notes: list[Note], path: str | Path, cfg: EventConfig, bpm: float = 100.0,
               program: int = 0) -> None:
    """One-track MIDI file of ``notes`` (grid steps) at ``bpm`` quarter notes per minute."""
    if cfg.steps_per_quarter is not None:
        def tick(step: int) -> int:
            return round(step * TICKS_PER_QUARTER / cfg.steps_per_quarter)
    else:
        def tick(step: int) -> int:
            return round(step * cfg.step_seconds * bpm / 60 * TICKS_PER_QUARTER)
    track = midi.MidiTrack(1)
    tempo = midi.MidiEvent(track, type=midi.MetaEvents.SET_TEMPO)
    tempo.data = round(60e6 / bpm).to_bytes(3, "big")
    prog = midi.MidiEvent(track, type=midi.ChannelVoiceMessages.PROGRAM_CHANGE, channel=1)
    prog.data = program
    # (tick, order, pitch, velocity): offs before ons at the same tick, so a re-strike reads back
    timeline = [(tick(n.end), 0, n.pitch, 0) for n in notes]
    timeline += [(tick(n.start), 1, n.pitch, n.velocity) for n in notes]
    events: list[midi.MidiEvent] = [midi.DeltaTime(track, time=0), tempo,
                                    midi.DeltaTime(track, time=0), prog]
    now = 0
    for t, is_on, pitch, vel in sorted(timeline):
        events.append(midi.DeltaTime(track, time=t - now))
        now = t
        kind = midi.ChannelVoiceMessages.NOTE_ON if is_on else midi.ChannelVoiceMessages.NOTE_OFF
        e = midi.MidiEvent(track, type=kind, channel=1)
        e.pitch, e.velocity = pitch, max(1, vel) if is_on else 0
        events.append(e)
    end = midi.MidiEvent(track, type=midi.MetaEvents.END_OF_TRACK)
    end.data = b""
    events += [midi.DeltaTime(track, time=0), end]
    track.events = events
    track.updateEvents()
    mf = midi.MidiFile()
    mf.ticksPerQuarterNote = TICKS_PER_QUARTER
    mf.tracks = [track]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(mf.writestr())
