"""Speech activity and segmentation for diarization: where is speech, and how to cut it.

- :func:`energy_vad`: frame log-energy thresholding, no model needed.
- :func:`binarize`: frame probabilities (neural VAD, EEND speaker activities) -> regions,
  with hysteresis and minimum durations.
- :func:`sliding_windows`: speech regions -> fixed-length windows to embed.
- :func:`windows_to_turns`: labelled, overlapping windows -> non-overlapping speaker turns.

All times are in seconds; regions are ``(start, end)`` float tuples, sorted by start.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Sequence
from itertools import pairwise

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

Region = tuple[float, float]

# Float slack for duration comparisons: 10 frames of 0.01 s must count as 0.1 s, not 0.0999...
_TOL = 1e-9


# ------------------------------------------------------------------ binarize
def _runs(active: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index ranges ``[i, j)`` where the boolean sequence is True."""
    edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(),
                    strict=True))


def _hysteresis(probs: np.ndarray, onset: float, offset: float) -> np.ndarray:
    """Active from a frame above ``onset`` until a frame below ``offset``; frames in between
    keep the previous state (a forward fill of the last decisive frame, vectorised)."""
    above, below = probs > onset, probs < offset
    decisive = np.where(above | below, np.arange(len(probs)), -1)
    last = np.maximum.accumulate(decisive) if len(probs) else decisive
    return (last >= 0) & above[np.maximum(last, 0)]


def _binarize_column(probs: np.ndarray, frame_shift: float, onset: float, offset: float,
                     min_duration_on: float, min_duration_off: float,
                     frame_offset: float) -> list[Region]:
    runs = _runs(_hysteresis(probs, onset, offset))
    # Fill short gaps first, so that a word split by a brief dip is not then dropped as short.
    merged: list[list[int]] = []
    for i, j in runs:
        if merged and (i - merged[-1][1]) * frame_shift < min_duration_off - _TOL:
            merged[-1][1] = j
        else:
            merged.append([i, j])
    return [(frame_offset + i * frame_shift, frame_offset + j * frame_shift)
            for i, j in merged if (j - i) * frame_shift >= min_duration_on - _TOL]


def binarize(
    probs: np.ndarray,
    frame_shift: float,
    onset: float = 0.5,
    offset: float | None = None,
    min_duration_on: float = 0.0,
    min_duration_off: float = 0.0,
    frame_offset: float = 0.0,
) -> list[Region] | list[list[Region]]:
    """Frame probabilities -> active regions, by hysteresis thresholding.

    A region starts at a frame with ``prob > onset`` and ends at the first later frame with
    ``prob < offset`` (``offset`` defaults to ``onset``; it must not exceed it). Frames between
    the two thresholds keep the current state, so a noisy score near one threshold does not
    chop a region. Then gaps shorter than ``min_duration_off`` are filled, and regions shorter
    than ``min_duration_on`` are dropped (in that order).

    Frame t stands for time ``frame_offset + t * frame_shift``; a region ``[i, j)`` of frames is
    ``(time(i), time(j))``. Set ``frame_offset`` to place frames at e.g. their window centres.

    ``probs`` ``[T]`` gives one list of ``(start, end)``; ``[T, S]`` gives one list per column
    (speaker or class), as EEND outputs need.
    """
    offset = onset if offset is None else offset
    if offset > onset:
        raise ValueError(f"hysteresis needs offset <= onset, got onset={onset}, offset={offset}")
    if frame_shift <= 0:
        raise ValueError(f"frame_shift must be positive, got {frame_shift}")
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim not in (1, 2):
        raise ValueError(f"probs must be [T] or [T, S], got shape {probs.shape}")
    args = (frame_shift, onset, offset, min_duration_on, min_duration_off, frame_offset)
    if probs.ndim == 1:
        return _binarize_column(probs, *args)
    return [_binarize_column(column, *args) for column in probs.T]


# ------------------------------------------------------------------ energy VAD
def energy_vad(
    waveform: torch.Tensor,
    sample_rate: int,
    frame_s: float = 0.025,
    shift_s: float = 0.010,
    threshold_db: float = -35.0,
    floor_db: float = -60.0,
    min_speech_s: float = 0.1,
    min_silence_s: float = 0.15,
) -> list[Region]:
    """Speech regions of a 1-D waveform (floats in [-1, 1]) by frame energy.

    A frame is speech when its mean-square energy is within ``threshold_db`` of the loudest
    frame *and* above the absolute ``floor_db`` (dB full scale; a full-scale sine is -3 dB).
    The relative threshold adapts to the recording's level; the floor keeps a silent or
    near-silent recording from calling its own noise speech. Silences shorter than
    ``min_silence_s`` are bridged, then speech shorter than ``min_speech_s`` is dropped.

    Each frame stands for ``shift_s`` around its window centre, so an edge is placed within
    about half a window of the true one (energy leaks into every window that touches speech);
    regions touching the first or last frame extend to the signal's start or end.
    """
    if waveform.dim() != 1:
        raise ValueError(f"energy_vad takes a 1-D waveform, got shape {tuple(waveform.shape)}")
    frame, shift = round(frame_s * sample_rate), round(shift_s * sample_rate)
    if waveform.numel() < frame:
        return []
    # Mean square per frame as an average pool: no [T, frame] copy of a long recording.
    power = F.avg_pool1d(waveform.detach().float().pow(2)[None, None], frame, shift)[0, 0]
    energy_db = 10.0 * np.log10(power.cpu().double().numpy() + 1e-12)
    threshold = max(energy_db.max() + threshold_db, floor_db)
    # Region edges sit half a shift before/after the first/last speech frame's centre.
    frame_offset = (frame / 2 - shift / 2) / sample_rate
    regions = binarize((energy_db > threshold).astype(np.float64), shift / sample_rate,
                       onset=0.5, min_duration_on=min_speech_s,
                       min_duration_off=min_silence_s, frame_offset=frame_offset)
    duration = waveform.numel() / sample_rate
    last_end = frame_offset + len(energy_db) * shift / sample_rate
    return [(0.0 if s <= frame_offset + _TOL else s, duration if e >= last_end - _TOL else e)
            for s, e in regions]


# ------------------------------------------------------------------ segmentation
def sliding_windows(
    regions: Sequence[Region],
    window_s: float = 1.5,
    step_s: float = 0.75,
    min_window_s: float = 0.5,
) -> list[Region]:
    """Cut each speech region into windows of ``window_s`` every ``step_s``.

    Every window of a long region has the full length (embeddings of equal quality): windows
    start at ``start + k * step_s`` while they fit, and the last one is aligned to the region's
    end, so each region is covered exactly, with ``1 + ceil((dur - window_s) / step_s)``
    windows. A region no longer than ``window_s`` is one window, itself.

    Regions shorter than ``min_window_s`` are kept as one short window all the same (their
    speech still needs a speaker label; dropping them would silently lose speech) and are
    counted in a log message. The embedder must accept them: e.g. ``SpeakerEmbedder``'s
    ``min_seconds`` must be at most the VAD's minimum speech duration.
    """
    if window_s <= 0 or step_s <= 0:
        raise ValueError(f"window_s and step_s must be positive, got {window_s}, {step_s}")
    if step_s > window_s:
        raise ValueError(f"step_s ({step_s}) > window_s ({window_s}) would leave gaps")
    windows: list[Region] = []
    short = 0
    for start, end in regions:
        start, end = float(start), float(end)
        duration = end - start
        if duration <= 0:  # an empty region holds no speech to label
            continue
        if duration <= window_s + _TOL:
            short += duration < min_window_s - _TOL
            windows.append((start, end))
            continue
        steps = math.ceil((duration - window_s) / step_s - _TOL)
        windows += [(start + k * step_s, start + k * step_s + window_s) for k in range(steps)]
        windows.append((end - window_s, end))
    if short:
        log.info("%d speech region(s) shorter than %.2f s kept as short windows", short,
                 min_window_s)
    return windows


def windows_to_turns(
    windows: Sequence[Region],
    labels: Sequence[Hashable],
    overlap_resolution: str = "midpoint",
) -> list[tuple[float, float, Hashable]]:
    """Labelled windows -> non-overlapping turns ``(start, end, label)``, sorted by start.

    Where two consecutive windows (by start time) overlap, the boundary between them is the
    midpoint of their overlap: each half goes to the window whose centre is nearer, which is
    where its embedding is most representative. Gaps between windows (silence between speech
    regions) stay gaps. Touching turns with the same label are then merged.

    Windows must come as :func:`sliding_windows` makes them: no window inside another one
    (sorted by start, their ends never decrease); otherwise the rule is undefined (ValueError).
    """
    if overlap_resolution != "midpoint":
        raise ValueError(f"unknown overlap_resolution {overlap_resolution!r}; valid: midpoint")
    if len(windows) != len(labels):
        raise ValueError(f"{len(windows)} windows but {len(labels)} labels")
    order = sorted(range(len(windows)), key=lambda i: (windows[i][0], windows[i][1]))
    wins = [(float(windows[i][0]), float(windows[i][1])) for i in order]
    labs = [labels[i].item() if isinstance(labels[i], np.generic) else labels[i] for i in order]
    for (s0, e0), (s1, e1) in pairwise(wins):
        if e1 < e0:
            raise ValueError(f"window ({s1}, {e1}) lies inside ({s0}, {e0})")
    # Cut every overlap at its midpoint; with sorted starts and ends the cuts never cross.
    bounds = [list(w) for w in wins]
    for k in range(1, len(wins)):
        if wins[k - 1][1] > wins[k][0]:
            bounds[k - 1][1] = bounds[k][0] = (wins[k][0] + wins[k - 1][1]) / 2
    turns: list[list] = []
    for (start, end), label in zip(bounds, labs, strict=True):
        if end <= start:  # a window wholly shared with its neighbours keeps nothing
            continue
        if turns and turns[-1][2] == label and turns[-1][1] >= start - _TOL:
            turns[-1][1] = end
        else:
            turns.append([start, end, label])
    return [(s, e, lab) for s, e, lab in turns]
