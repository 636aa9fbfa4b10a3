"""RTTM reading/writing, its errors, and frame-level speaker activity."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from audiokit.data.rttm import (
    RttmError,
    Turn,
    frame_labels,
    labels_to_turns,
    read_rttm,
    to_annotation,
    write_rttm,
)


def _line(reco: str, start: str, dur: str, spk: str) -> str:
    return f"SPEAKER {reco} 1 {start} {dur} <NA> <NA> {spk} <NA> <NA>\n"


def test_round_trip_sorted_three_decimals(tmp_path):
    turns = {"rec_b": [Turn(2.0, 3.5, "bob"), Turn(0.1234, 1.0, "ann")],
             "rec_a": [Turn(1.0, 2.0, "ann"), Turn(0.5, 1.5, "bob")]}  # bob overlaps ann
    path = tmp_path / "rttm"
    write_rttm(path, turns)
    lines = path.read_text().splitlines()
    assert lines[0] == "SPEAKER rec_a 1 0.500 1.000 <NA> <NA> bob <NA> <NA>"
    assert [ln.split()[1] for ln in lines] == ["rec_a", "rec_a", "rec_b", "rec_b"]
    assert lines[2].split()[3:5] == ["0.123", "0.877"]  # start and end on the 1 ms grid
    back = read_rttm(path)
    assert back["rec_a"] == [Turn(0.5, 1.5, "bob"), Turn(1.0, 2.0, "ann")]
    assert back["rec_b"][0] == pytest.approx(Turn(0.123, 1.0, "ann"))
    assert back["rec_b"][1] == Turn(2.0, 3.5, "bob")


def test_comments_blank_and_other_types_skipped(tmp_path):
    path = tmp_path / "rttm"
    path.write_text(";; a comment\n\n# another\n"
                    "SPKR-INFO r 1 <NA> <NA> <NA> unknown ann <NA> <NA>\n"
                    + _line("r", "0.0", "1.0", "ann"))
    assert read_rttm(path) == {"r": [Turn(0.0, 1.0, "ann")]}


@pytest.mark.parametrize("bad, why", [
    ("r 1 0.0 1.0 ann", "unknown line type"),                    # a segments-like line
    ("SPEAKER r 1 0.0 1.0 <NA> <NA>", "7 fields"),
    ("SPEAKER r 1 zero 1.0 <NA> <NA> ann <NA> <NA>", "must be numbers"),
    ("SPEAKER r 1 0.0 nan <NA> <NA> ann <NA> <NA>", "finite"),
    ("SPEAKER r 1 -0.5 1.0 <NA> <NA> ann <NA> <NA>", "negative start"),
    ("SPEAKER r 1 0.5 0 <NA> <NA> ann <NA> <NA>", "must be positive"),
    ("SPEAKER r 1 0.5 -1 <NA> <NA> ann <NA> <NA>", "must be positive"),
])
def test_errors_name_file_and_line(tmp_path, bad, why):
    path = tmp_path / "ref.rttm"
    path.write_text(_line("r", "0.0", "1.0", "ann") + ";; ok\n" + bad + "\n")
    with pytest.raises(RttmError, match=why) as err:
        read_rttm(path)
    assert f"{path}:3:" in str(err.value)
    assert isinstance(err.value, ValueError)


def test_same_speaker_overlap_and_touch_merged_with_warning(tmp_path, caplog):
    path = tmp_path / "rttm"
    path.write_text(_line("r", "0.0", "1.0", "ann")       # line 1
                    + _line("r", "0.5", "1.0", "bob")     # 2: other speaker: overlap is normal
                    + _line("r", "0.8", "0.7", "ann")     # 3: overlaps line 1
                    + _line("r", "1.5", "0.5", "ann")     # 4: touches line 3
                    + _line("r", "3.0", "1.0", "ann"))    # 5: apart
    with caplog.at_level(logging.WARNING, logger="audiokit.data.rttm"):
        turns = read_rttm(path)
    assert turns["r"] == [Turn(0.0, 2.0, "ann"), Turn(0.5, 1.5, "bob"), Turn(3.0, 4.0, "ann")]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert str(path) in warnings[0] and "'r'" in warnings[0] and "'ann'" in warnings[0]
    assert "lines 1, 3, 4" in warnings[0]


def test_frame_labels_centre_rule():
    # shift 0.1: frame i is [0.1 i, 0.1 (i+1)), centre 0.1 i + 0.05
    turns = [Turn(0.0, 0.3, "a"), Turn(0.25, 0.5, "b"), Turn(0.56, 0.6, "a")]
    labels = frame_labels(turns, ["a", "b", "c"], 7, 0.1)
    assert labels.dtype == np.float32 and labels.shape == (7, 3)
    # a: centres 0.05, 0.15, 0.25 in [0, 0.3); 0.55 is not in [0.56, 0.6)
    assert labels[:, 0].tolist() == [1, 1, 1, 0, 0, 0, 0]
    # b: [0.25, 0.5) holds centres 0.25, 0.35, 0.45
    assert labels[:, 1].tolist() == [0, 0, 1, 1, 1, 0, 0]
    assert not labels[:, 2].any()
    # with an offset, frame 0 starts at 0.2 (centre 0.25)
    shifted = frame_labels(turns, ["a", "b"], 3, 0.1, offset=0.2)
    assert shifted.tolist() == [[1, 1], [0, 1], [0, 1]]
    with pytest.raises(ValueError, match="speaker 'b'"):
        frame_labels(turns, ["a"], 7, 0.1)


def test_labels_to_turns_inverts_frame_labels():
    rng = np.random.default_rng(0)
    activity = rng.random((200, 3)) < 0.4
    activity[0, 0] = activity[-1, 1] = True  # runs at both edges
    speakers = ["x", "y", "z"]
    turns = labels_to_turns(activity, 0.01, speakers, offset=1.5)
    assert all(t.start >= 1.5 and t.end <= 1.5 + 200 * 0.01 + 1e-9 for t in turns)
    assert turns == sorted(turns)
    back = frame_labels(turns, speakers, 200, 0.01, offset=1.5)
    assert np.array_equal(back.astype(bool), activity)
    assert labels_to_turns(np.array([[0, 1], [1, 1], [1, 0]]), 0.5, ["a", "b"]) == [
        Turn(0.0, 1.0, "b"), Turn(0.5, 1.5, "a")]


def test_to_annotation_keeps_overlap():
    ann = to_annotation([Turn(0, 2, "a"), Turn(0, 2, "b"), Turn(3, 4, "a")], "rec")
    assert ann.uri == "rec"
    assert sorted(ann.labels()) == ["a", "b"]
    assert ann.label_duration("a") == pytest.approx(3.0)
    assert ann.label_duration("b") == pytest.approx(2.0)
