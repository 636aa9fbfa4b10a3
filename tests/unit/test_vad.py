"""Energy VAD, hysteresis binarisation, sliding windows and window -> turn conversion."""

import logging
import math
from itertools import pairwise

import numpy as np
import pytest
import torch

from audiokit.inference.vad import binarize, energy_vad, sliding_windows, windows_to_turns

SR = 16000


def bursts_in_noise(bursts, duration=5.0, amplitude=0.3, noise=1e-3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = noise * torch.randn(int(duration * SR), generator=g)
    for start, end in bursts:
        i, j = round(start * SR), round(end * SR)
        x[i:j] += amplitude * torch.sin(2 * math.pi * 440 * torch.arange(j - i) / SR)
    return x


def assert_regions(actual, expected, atol=1e-9):
    assert len(actual) == len(expected), (actual, expected)
    np.testing.assert_allclose(np.array(actual, dtype=float).reshape(-1, 2),
                               np.array(expected, dtype=float).reshape(-1, 2), atol=atol)


# ------------------------------------------------------------------ energy VAD
@pytest.mark.parametrize("amplitude", [0.3, 0.003])  # the threshold is relative to the loudest
def test_energy_vad_finds_tone_bursts_within_20ms(amplitude):
    bursts = [(0.5, 1.2), (1.503, 2.0), (2.8, 4.1234)]
    x = bursts_in_noise(bursts, amplitude=amplitude, noise=amplitude / 300)
    assert_regions(energy_vad(x, SR), bursts, atol=0.02)


def test_energy_vad_durations_and_edges():
    # A 50 ms gap is bridged (min_silence_s=0.15); a 60 ms blip is dropped (min_speech_s=0.1).
    x = bursts_in_noise([(0.0, 1.0), (1.05, 1.5), (2.5, 2.56), (3.2, 4.0)], duration=4.0)
    # Speech touching the signal's ends extends to exactly 0 and the duration.
    assert_regions(energy_vad(x, SR), [(0.0, 1.5), (3.2, 4.0)], atol=0.02)
    assert energy_vad(x, SR)[0][0] == 0.0 and energy_vad(x, SR)[-1][1] == 4.0


def test_energy_vad_silence_and_short_input():
    assert energy_vad(torch.zeros(SR), SR) == []
    # Noise alone at -80 dBFS is under the absolute floor, whatever its loudest frame.
    assert energy_vad(1e-4 * torch.randn(SR), SR) == []
    assert energy_vad(torch.ones(100), SR) == []  # shorter than one 25 ms frame
    with pytest.raises(ValueError, match="1-D"):
        energy_vad(torch.zeros(2, SR), SR)


# ------------------------------------------------------------------ binarize
PROBS = np.array([0.1, 0.6, 0.7, 0.45, 0.35, 0.2, 0.8, 0.9, 0.1, 0.1])


def test_binarize_single_threshold():
    assert_regions(binarize(PROBS, 0.1), [(0.1, 0.3), (0.6, 0.8)])


def test_binarize_hysteresis_keeps_frames_between_thresholds():
    # 0.45 and 0.35 lie between offset 0.3 and onset 0.5: the region goes on until 0.2.
    assert_regions(binarize(PROBS, 0.1, onset=0.5, offset=0.3), [(0.1, 0.5), (0.6, 0.8)])
    # A frame between the thresholds cannot start a region either.
    assert binarize(np.array([0.4, 0.4, 0.1]), 0.1, onset=0.5, offset=0.3) == []


def test_binarize_min_durations():
    assert_regions(binarize(PROBS, 0.1, offset=0.3, min_duration_off=0.15), [(0.1, 0.8)])
    assert binarize(PROBS, 0.1, min_duration_on=0.25) == []
    # Exactly min_duration_on long is kept (3 frames of 0.1 s despite float rounding).
    assert_regions(binarize(np.array([0, 1, 1, 1, 0.0]), 0.1, min_duration_on=0.3), [(0.1, 0.4)])
    # Gaps are filled before short regions are dropped: 0.2 + gap 0.3 + 0.2 makes 0.7.
    assert_regions(binarize(PROBS, 0.1, min_duration_off=0.35, min_duration_on=0.25),
                   [(0.1, 0.8)])


def test_binarize_edges_columns_and_offset():
    assert_regions(binarize(np.array([0.9, 0.9, 0.1, 0.7]), 0.5), [(0.0, 1.0), (1.5, 2.0)])
    assert_regions(binarize(np.array([0.9, 0.1]), 0.01, frame_offset=0.0125), [(0.0125, 0.0225)])
    two = binarize(np.stack([PROBS, 1 - PROBS], axis=1), 0.1)
    assert len(two) == 2
    assert_regions(two[0], [(0.1, 0.3), (0.6, 0.8)])
    assert_regions(two[1], [(0.0, 0.1), (0.3, 0.6), (0.8, 1.0)])
    assert binarize(np.zeros(0), 0.1) == []
    with pytest.raises(ValueError, match="offset <= onset"):
        binarize(PROBS, 0.1, onset=0.3, offset=0.5)


# ------------------------------------------------------------------ sliding windows
@pytest.mark.parametrize(("duration", "count"), [(4.0, 5), (3.0, 3), (2.0, 2), (1.5, 1),
                                                 (1.6, 2), (0.8, 1)])
def test_sliding_windows_count_and_coverage(duration, count):
    start = 2.0
    windows = sliding_windows([(start, start + duration)], window_s=1.5, step_s=0.75)
    assert len(windows) == count == 1 + max(0, math.ceil((duration - 1.5) / 0.75 - 1e-9))
    assert windows[0][0] == start and windows[-1][1] == pytest.approx(start + duration)
    for (s0, e0), (s1, e1) in pairwise(windows):
        assert s0 < s1 <= e0 < e1  # ordered and overlapping: no speech left out
    for s, e in windows:
        assert start <= s and e <= start + duration + 1e-9
        assert e - s == pytest.approx(min(1.5, duration))


def test_sliding_windows_keeps_short_regions(caplog):
    with caplog.at_level(logging.INFO, logger="audiokit.inference.vad"):
        windows = sliding_windows([(0.0, 0.2), (1.0, 3.0), (5.0, 5.6)], min_window_s=0.5)
    assert_regions(windows, [(0.0, 0.2), (1.0, 2.5), (1.5, 3.0), (5.0, 5.6)])
    assert "1 speech region(s) shorter than 0.50 s" in caplog.text
    with pytest.raises(ValueError, match="gaps"):
        sliding_windows([(0.0, 5.0)], window_s=1.0, step_s=1.5)


# ------------------------------------------------------------------ windows -> turns
def test_windows_to_turns_midpoint_rule():
    windows = [(0.0, 1.5), (0.75, 2.25), (1.5, 3.0), (4.0, 5.0)]
    turns = windows_to_turns(windows, ["A", "A", "B", "B"])
    # A|B boundary: overlap of (0.75, 2.25) and (1.5, 3.0) is (1.5, 2.25), midpoint 1.875.
    # The silence between 3.0 and 4.0 stays a gap, so the two B turns are not merged.
    assert turns == [(0.0, 1.875, "A"), (1.875, 3.0, "B"), (4.0, 5.0, "B")]
    # Order of the input does not matter; numpy labels come back as Python ints.
    shuffled = windows_to_turns(windows[::-1], np.array([1, 1, 0, 0]))
    assert shuffled == [(0.0, 1.875, 0), (1.875, 3.0, 1), (4.0, 5.0, 1)]
    assert type(shuffled[0][2]) is int


def test_windows_to_turns_alternating_labels_and_end_aligned_window():
    # The last window is end-aligned (1.5 -> 3.0 overlaps (0.75, 2.25) and (1.25, 2.75)).
    windows = [(0.0, 1.5), (0.75, 2.25), (1.25, 2.75), (1.5, 3.0)]
    turns = windows_to_turns(windows, [0, 1, 0, 1])
    assert turns == [(0.0, 1.125, 0), (1.125, 1.75, 1), (1.75, 2.125, 0), (2.125, 3.0, 1)]


def test_windows_to_turns_cover_the_regions_exactly():
    regions = [(0.3, 4.1), (5.0, 5.4), (6.0, 8.9)]
    windows = sliding_windows(regions)
    labels = np.random.default_rng(0).integers(0, 3, len(windows))
    turns = windows_to_turns(windows, labels)
    for (_, e0, l0), (s1, _, l1) in pairwise(turns):
        assert e0 <= s1 and (e0 < s1 or l0 != l1)  # no overlap; touching turns differ
    covered = sorted((s, e) for s, e, _ in turns)
    merged = [list(covered[0])]
    for s, e in covered[1:]:
        if s <= merged[-1][1] + 1e-9:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    assert_regions(merged, regions)


def test_windows_to_turns_errors():
    assert windows_to_turns([], []) == []
    with pytest.raises(ValueError, match="inside"):
        windows_to_turns([(0.0, 3.0), (1.0, 2.0)], [0, 1])
    with pytest.raises(ValueError, match="labels"):
        windows_to_turns([(0.0, 1.0)], [0, 1])
    with pytest.raises(ValueError, match="midpoint"):
        windows_to_turns([(0.0, 1.0)], [0], overlap_resolution="vote")
