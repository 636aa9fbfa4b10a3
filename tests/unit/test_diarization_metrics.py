"""DER on hand-made references and hypotheses, against values worked out by hand.

Collar convention checked here: ``collar`` seconds are removed on EACH side of every
reference boundary (NIST md-eval ``-c``, as EEND/ESPnet report), i.e. pyannote's collar of
``2 * collar``.
"""

from __future__ import annotations

import pytest

from audiokit.data.rttm import Turn
from audiokit.metrics.diarization import diarization_error

# Two speakers, one after the other: A [0, 10), B [10, 20); 20 s of reference speech.
REF = {"r": [Turn(0, 10, "A"), Turn(10, 20, "B")]}


def _figures(report: dict) -> tuple[float, ...]:
    return tuple(round(report[k], 6) for k in ("der", "missed", "false_alarm", "confusion",
                                               "total_s"))


@pytest.mark.parametrize("collar", [0.0, 0.25])
def test_perfect_hypothesis_with_other_labels_is_zero(collar):
    hyp = {"r": [Turn(0, 10, "spk1"), Turn(10, 20, "spk0")]}
    report = diarization_error(REF, hyp, collar, jer=True)
    assert report["der"] == 0 and report["jer"] == 0
    assert report["recordings"]["r"]["der"] == 0


def test_each_error_kind_by_hand():
    # miss A 8-10 (2 s)
    miss = diarization_error(REF, {"r": [Turn(0, 8, "x"), Turn(10, 20, "y")]}, 0.0)
    assert _figures(miss) == (10.0, 10.0, 0.0, 0.0, 20.0)
    # false alarm 20-23 (3 s) where the scored region reaches the hypothesis' last end
    fa = diarization_error(REF, {"r": [Turn(0, 10, "x"), Turn(10, 23, "y")]}, 0.0,
                           region="union")
    assert _figures(fa) == (15.0, 0.0, 15.0, 0.0, 20.0)
    # false alarm 4-6 (2 s) inside the reference's extent: A and x agree elsewhere
    fa_inside = diarization_error({"r": [Turn(0, 4, "A"), Turn(6, 10, "B")]},
                                  {"r": [Turn(0, 6, "x"), Turn(6, 10, "y")]}, 0.0)
    assert _figures(fa_inside) == (25.0, 0.0, 25.0, 0.0, 8.0)
    # confusion: B's 10-12 given to x, which maps to A (9 s of agreement beats 2)
    conf = diarization_error(REF, {"r": [Turn(0, 12, "x"), Turn(12, 20, "y")]}, 0.0)
    assert _figures(conf) == (10.0, 0.0, 0.0, 10.0, 20.0)


# Miss 0-1, confusion 10-12, false alarm 21-22.
MIXED = {"r": [Turn(1, 12, "x"), Turn(12, 20, "y"), Turn(21, 22, "y")]}


def test_mixed_errors_without_collar():
    report = diarization_error(REF, MIXED, 0.0, region="union")
    # (1 + 1 + 2) / 20
    assert _figures(report) == (20.0, 5.0, 5.0, 10.0, 20.0)
    assert report["missed_s"] == pytest.approx(1.0)
    assert report["false_alarm_s"] == pytest.approx(1.0)
    assert report["confusion_s"] == pytest.approx(2.0)
    assert report["reference_s"] == pytest.approx(20.0)
    # md-eval's region ends with the reference (20 s): the false alarm at 21-22 is not scored
    md_eval = diarization_error(REF, MIXED, 0.0)
    assert md_eval["region"] == "reference" and _figures(md_eval) == (15.0, 5.0, 0.0, 10.0, 20.0)


def test_collar_is_removed_on_each_side_of_reference_boundaries():
    # collar 0.25 removes [-0.25, 0.25], [9.75, 10.25], [19.75, 20.25]:
    # scored reference speech 0.25-9.75 and 10.25-19.75 = 19 s;
    # miss A 0.25-1 = 0.75, confusion 10.25-12 = 1.75, false alarm 21-22 = 1 (outside collars)
    report = diarization_error(REF, MIXED, 0.25, region="union")
    assert report["total_s"] == pytest.approx(19.0)
    assert report["missed_s"] == pytest.approx(0.75)
    assert report["confusion_s"] == pytest.approx(1.75)
    assert report["false_alarm_s"] == pytest.approx(1.0)
    assert report["der"] == pytest.approx(100 * 3.5 / 19)
    # md-eval's region (the reference's extent, 0-20) leaves the false alarm out
    assert diarization_error(REF, MIXED, 0.25)["der"] == pytest.approx(100 * 2.5 / 19)
    # pyannote's own collar=0.25 would be 0.125 per side: 19.5 s scored. Not what we report.
    assert report["total_s"] != pytest.approx(19.5)
    # a 2 s collar (zones [-2, 2], [8, 12], [18, 22]) hides all three errors
    wide = diarization_error(REF, MIXED, 2.0, region="union")
    assert wide["der"] == 0
    assert wide["total_s"] == pytest.approx(12.0)  # 2-8 and 12-18


def test_scored_region_reference_is_md_evals_and_union_is_dscores():
    """md-eval-22 without a UEM scores the reference's extent (uem_from_rttm of the reference:
    first start to last end); dscore and pyannote score 0 to the last end of either side."""
    ref = {"r": [Turn(1, 10, "A"), Turn(10, 20, "B")]}
    hyp = {"r": [Turn(1, 10, "x"), Turn(10, 23, "y")]}
    md_eval = diarization_error(ref, hyp)
    assert md_eval["region"] == "reference" and md_eval["der"] == 0
    union = diarization_error(ref, hyp, region="union")
    assert union["region"] == "union"
    assert union["der"] == pytest.approx(100 * 3 / 19)  # 15.79 %: 20-23 is false alarm
    assert round(union["der"], 2) == 15.79
    # speech before the reference's first turn: outside md-eval's region, inside the union's
    early = {"r": [Turn(0, 10, "x"), Turn(10, 20, "y")]}
    assert diarization_error(ref, early)["der"] == 0
    assert diarization_error(ref, early, region="union")["false_alarm_s"] == pytest.approx(1.0)
    # a UEM replaces both, and the report says so
    assert diarization_error(ref, hyp, uem={"r": [(0.0, 23.0)]})["region"] == "uem"
    with pytest.raises(ValueError, match="region must be one of reference, union"):
        diarization_error(ref, hyp, region="hyp")


def test_overlapped_speech_is_scored():
    ref = {"r": [Turn(0, 10, "A"), Turn(5, 15, "B")]}  # 5 s of overlap: 20 s of speech
    # no overlap detected: B missed while A also talks (5-10), found afterwards
    no_overlap = diarization_error(ref, {"r": [Turn(0, 10, "x"), Turn(10, 15, "y")]}, 0.0)
    assert _figures(no_overlap) == (25.0, 25.0, 0.0, 0.0, 20.0)
    # one speaker throughout: x maps to A (or B, a tie): 5-10 misses one speaker, and 10-15
    # (B alone) is confused with A
    one_speaker = diarization_error(ref, {"r": [Turn(0, 15, "x")]}, 0.0)
    assert _figures(one_speaker) == (50.0, 25.0, 0.0, 25.0, 20.0)
    both = diarization_error(ref, {"r": [Turn(0, 10, "x"), Turn(5, 15, "y")]}, 0.0)
    assert both["der"] == 0
    # hypothesis says both talk 0-15: A missing 10-15 is a false alarm of the extra speaker
    extra = diarization_error(ref, {"r": [Turn(0, 15, "x"), Turn(0, 15, "y")]}, 0.0)
    assert _figures(extra) == (50.0, 0.0, 50.0, 0.0, 20.0)


def test_errors_are_pooled_over_recordings():
    ref = {**REF, "s": [Turn(0, 5, "C")]}
    hyp = {"r": [Turn(0, 8, "x"), Turn(10, 20, "y")], "s": [Turn(0, 5, "z")]}
    report = diarization_error(ref, hyp, 0.0)
    assert report["der"] == pytest.approx(100 * 2 / 25)  # not the mean of 10 % and 0 %
    assert report["recordings"]["r"]["der"] == pytest.approx(10.0)
    assert report["recordings"]["s"]["der"] == 0 and report["num_recordings"] == 2


def test_missing_and_unknown_recordings():
    ref = {**REF, "s": [Turn(0, 5, "C")]}
    with pytest.raises(ValueError, match=r"\['s'\]"):
        diarization_error(ref, REF, 0.0)
    report = diarization_error(ref, REF, 0.0, missing="miss")
    assert report["missing"] == ["s"]
    assert report["missed_s"] == pytest.approx(5.0) and report["der"] == pytest.approx(20.0)
    assert report["recordings"]["s"]["der"] == 100.0
    with pytest.raises(ValueError, match="no reference.*'t'"):
        diarization_error(REF, {**REF, "t": [Turn(0, 1, "x")]}, 0.0)
    with pytest.raises(ValueError, match="collar"):
        diarization_error(REF, REF, -0.1)


def test_jer_by_hand():
    # A: hypothesis x covers 8 of the 10 s: 2 / 10; B: perfect. JER = mean = 10 %.
    report = diarization_error(REF, {"r": [Turn(0, 8, "x"), Turn(10, 20, "y")]}, 0.0, jer=True)
    assert report["jer"] == pytest.approx(10.0)


def test_uem_restricts_the_scored_region(tmp_path):
    from audiokit.metrics.diarization import read_uem

    ref = {"r": [Turn(0.0, 10.0, "A")]}
    hyp = {"r": [Turn(0.0, 5.0, "x")]}  # misses 5..10
    assert diarization_error(ref, hyp)["der"] == pytest.approx(50.0)
    uem_file = tmp_path / "uem"
    uem_file.write_text("r 1 0.000 4.000\nr 1 4.000 6.000\n")  # touching spans: one region
    report = diarization_error(ref, hyp, uem=read_uem(uem_file))
    assert report["total_s"] == pytest.approx(6.0)
    assert report["missed_s"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no scored region for recording 'r'"):
        diarization_error(ref, hyp, uem={"other": [(0.0, 1.0)]})
    uem_file.write_text("r 1 3.0 2.0\n")
    with pytest.raises(ValueError, match="uem:1: span 3.0..2.0 of 'r'"):
        read_uem(uem_file)
