"""Sample statistics on pieces whose values are known, and audiokit-score task=music."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audiokit.music.events import EventConfig
from audiokit.music.midi_io import write_midi
from audiokit.music.notes import Note
from audiokit.music.stats import interval_counts, pc_counts, piece_stats, summarize, tv_distance

C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]


def scale_piece(pitches=C_MAJOR, chord=(48, 55)) -> list[Note]:
    """A scale in quarter notes over a held C-G fifth (4 steps per quarter)."""
    notes = [Note(4 * i, 4 * i + 4, p) for i, p in enumerate(pitches)]
    return notes + [Note(0, 4 * len(pitches), p) for p in chord]


def test_histograms_by_hand():
    notes = scale_piece()
    assert pc_counts(notes).tolist() == [3, 0, 1, 0, 1, 1, 0, 2, 0, 1, 0, 1]
    # onsets: {60, 48, 55} then one note each: nearest moves 62-60, 64-62, ... all steps up
    # of 2, 2, 1, 2, 2, 2, 1
    counts = interval_counts(notes)
    assert counts[12 + 2] == 5 and counts[12 + 1] == 2 and counts.sum() == 7
    # a tie (equally far up and down) is the move down; beyond an octave is clipped
    assert interval_counts([Note(0, 1, 60), Note(0, 1, 64), Note(1, 2, 62)])[12 - 2] == 1
    assert interval_counts([Note(0, 1, 40), Note(1, 2, 80)])[24] == 1
    assert tv_distance(np.array([1.0, 0, 1]), np.array([0.0, 2, 2])) == pytest.approx(0.5)


def test_piece_stats_of_a_c_major_scale():
    s = piece_stats(scale_piece())
    assert s["key"] == "C major" and s["in_key"] == 1.0
    assert s["notes_per_quarter"] == pytest.approx(10 / 8)
    assert s["key_consistency"] == 1.0  # one 8-quarter window, same key
    assert 0 < s["key_correlation"] <= 1


def test_leave_one_out_distance_of_the_reference_set():
    a = {"pc_counts": np.array([2.0, 0] + [0] * 10), "interval_counts": np.ones(25)}
    b = {"pc_counts": np.array([0.0, 2] + [0] * 10), "interval_counts": np.ones(25)}
    for p in (a, b):
        p.update(key_consistency=1.0, key_correlation=0.9, in_key=1.0, notes_per_quarter=2.0,
                 num_notes=2)
    ref = summarize([a, b], [a, b], is_reference=True)
    assert ref["pitch_class_distance"] == 1.0  # each against the other: disjoint
    assert summarize([a], [a, b])["pitch_class_distance"] == pytest.approx(0.5)


def test_score_music_cli(tmp_path):
    from audiokit.cli.score import main

    cfg = EventConfig()
    ref, hyp = tmp_path / "test", tmp_path / "infer"
    ref.mkdir(), hyp.mkdir()
    lines = []
    for i, shift in enumerate((0, 2, 5)):
        path = tmp_path / f"r{i}.mid"
        write_midi([n._replace(pitch=n.pitch + shift) for n in scale_piece()], path, cfg)
        lines.append(f"p{i} {path}\n")
    (ref / "midi.scp").write_text("".join(lines))
    (hyp / "nll").write_text("p0 10.0 10\np1 20.0 10\np2 0.0 5\n")
    write_midi(scale_piece(), tmp_path / "s.mid", cfg)
    (hyp / "midi.scp").write_text(f"s0 {tmp_path / 's.mid'}\n")
    main([f"ref={ref}", f"hyp={hyp}", "task=music", f"exp_dir={tmp_path / 'exp'}"])
    report = json.loads((tmp_path / "exp/scores/infer/report.json").read_text())
    assert report["nll_per_token"] == pytest.approx(30.0 / 25)
    s = report["samples"]
    assert s["generated"]["in_key"] == 1.0 and s["test"]["in_key"] == 1.0
    assert s["within_tolerance"]["notes_per_quarter"]
    assert "NLL per token: **1.2000**" in (tmp_path / "exp/RESULTS.md").read_text()
    (hyp / "nll").write_text("p0 10.0 10\n")
    with pytest.raises(SystemExit):  # a test piece without NLL is named, not skipped
        main([f"ref={ref}", f"hyp={hyp}", "task=music"])
