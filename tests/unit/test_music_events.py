"""Event tokens: a Bach chorale round-trips (score -> MIDI -> notes -> tokens -> notes, same
notes), the canonical form of same-pitch overlaps, velocity bins, decoding model output."""

from __future__ import annotations

import pytest

from audiokit.music.events import EventConfig, decode, encode, transpose_events
from audiokit.music.midi_io import MidiError, read_midi, write_midi
from audiokit.music.notes import Note, canonical


@pytest.fixture(scope="module")
def chorale_notes():
    from music21 import corpus

    from audiokit.music.chorales import performed, score_notes

    notes, counts = score_notes(performed(corpus.parse("bach/bwv269")), 4)
    return notes


def test_chorale_round_trips_through_midi_and_tokens(chorale_notes, tmp_path):
    cfg = EventConfig()
    assert len(chorale_notes) > 100 and len({n.pitch for n in chorale_notes}) > 15
    write_midi(chorale_notes, tmp_path / "c.mid", cfg)
    from_midi = read_midi(tmp_path / "c.mid", cfg)
    assert from_midi == chorale_notes
    events = encode(from_midi, cfg)
    assert decode(events, cfg) == chorale_notes
    # the event sequence itself is what we expect of it
    assert sum(e.startswith("on") for e in events) == len(chorale_notes)
    assert sum(e.startswith("off") for e in events) == len(chorale_notes)
    steps = sum(int(e[5:]) for e in events if e.startswith("shift"))
    assert steps == max(n.end for n in chorale_notes)


def test_chorale_round_trips_through_music21_midi(chorale_notes, tmp_path):
    """music21's own MIDI writer (an independent encoder) gives the same notes back."""
    from music21 import corpus

    from audiokit.music.chorales import performed

    performed(corpus.parse("bach/bwv269")).write("midi", fp=str(tmp_path / "m21.mid"))
    from_m21 = read_midi(tmp_path / "m21.mid", EventConfig())
    assert [n._replace(velocity=80) for n in from_m21] == chorale_notes  # music21 writes 90


def test_canonical_resolves_same_pitch_overlaps_like_a_keyboard():
    notes = [Note(0, 4, 60), Note(1, 3, 60), Note(0, 2, 64), Note(0, 5, 64), Note(6, 6, 67)]
    # 60: the onset at 1 ends the first note there, the second lasts to the later end (4);
    # 64: two onsets at 0 merge into the longer note; the zero-length 67 is dropped
    assert canonical(notes) == [Note(0, 1, 60), Note(0, 5, 64), Note(1, 4, 60)]
    assert decode(encode(notes, EventConfig()), EventConfig()) == canonical(notes)


def test_events_by_hand():
    cfg = EventConfig(max_shift=4)
    notes = [Note(0, 2, 60), Note(0, 6, 64), Note(2, 3, 60)]
    assert encode(notes, cfg) == ["on60", "on64", "shift2", "off60", "on60", "shift1", "off60",
                                  "shift3", "off64"]
    assert transpose_events(["on60", "shift2", "off60"], -2) == ["on58", "shift2", "off58"]


def test_velocity_bins_round_trip_to_bin_centres():
    cfg = EventConfig(max_shift=100, velocity_bins=32, steps_per_quarter=None, step_seconds=0.01)
    notes = [Note(0, 50, 60, 100), Note(25, 130, 64, 33), Note(30, 40, 67, 33)]
    events = encode(notes, cfg)
    assert events.count("vel8") == 1  # written once for two notes of the same bin
    got = decode(events, cfg)
    assert [(n.start, n.end, n.pitch) for n in got] == [(n.start, n.end, n.pitch) for n in notes]
    for n, g in zip(notes, got, strict=True):
        assert cfg.velocity_bin(g.velocity) == cfg.velocity_bin(n.velocity)
        assert abs(g.velocity - n.velocity) <= 2


def test_performance_grid_follows_the_tempo(tmp_path):
    cfg = EventConfig(max_shift=100, steps_per_quarter=None, step_seconds=0.01)
    notes = [Note(0, 50, 60), Note(100, 175, 62)]
    write_midi(notes, tmp_path / "p.mid", cfg, bpm=90)  # ticks depend on the tempo; seconds not
    assert read_midi(tmp_path / "p.mid", cfg) == notes


def test_decode_reads_model_output():
    cfg = EventConfig()
    # off of a silent pitch ignored, re-strike ends the note, a hanging note stops at the end,
    # unknown names (the end token) skipped
    events = ["off50", "on60", "shift2", "on60", "shift1", "on62", "shift1", "<sos/eos>"]
    assert decode(events, cfg) == [Note(0, 2, 60), Note(2, 4, 60), Note(3, 4, 62)]


def test_unreadable_midi_is_named(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not midi at all")
    with pytest.raises(MidiError, match="bad.mid"):
        read_midi(bad, EventConfig())
