"""Mel-cepstral distortion with DTW, and F0 error, of synthesised speech against a recording.

The usual ESPnet / ``pymcd`` measure: both signals are analysed with WORLD (``pyworld``: Harvest
F0, CheapTrick spectral envelope, 5 ms frames), the envelope turned into a
mel-cepstrum of order 24 by SPTK's all-pass frequency warping (``pysptk.sp2mc``, the
warping constant alpha fitted to the mel scale for the sample rate by ``pysptk.mcepalpha``:
0.312 at 8 kHz, 0.41 at 16 kHz). The frames are aligned by dynamic time warping on the
mel-cepstra without c0 (energy), and along the path

    MCD = (10 / ln 10) * sqrt(2 * sum_{d=1..24} (c_d - c'_d)^2)      [dB, mean over the path]

F0 RMSE (Hz) is over the path's frame pairs that both analyses call voiced; the voicing
decision error is the fraction of path pairs on which they disagree.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.resources
import math
import sys
import types
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist

MCD_ORDER = 24
FRAME_MS = 5.0
F0_FLOOR, F0_CEIL = 71.0, 800.0  # WORLD's defaults (Hz)
DB = 10.0 / math.log(10.0)


def _import_without_pkg_resources(name: str):
    """pyworld 0.3.5 and pysptk 1.0.1 import ``pkg_resources`` (gone from setuptools 82 on)
    only for their version string and an example file's path: while they import, give them
    a stand-in built on the standard library instead of pinning an old setuptools."""
    if name in sys.modules or "pkg_resources" in sys.modules:
        return importlib.import_module(name)
    shim = types.ModuleType("pkg_resources")
    shim.get_distribution = lambda dist: types.SimpleNamespace(
        version=importlib.metadata.version(dist))
    shim.resource_filename = lambda package, resource: str(
        importlib.resources.files(package) / resource)
    sys.modules["pkg_resources"] = shim
    try:
        return importlib.import_module(name)
    finally:
        sys.modules.pop("pkg_resources", None)  # other libraries must not find the stand-in


@dataclass
class WorldFeatures:
    f0: np.ndarray      # [frames] Hz, 0 where unvoiced
    mcep: np.ndarray    # [frames, order + 1] mel-cepstrum, c0 first


def world_features(audio: np.ndarray, sample_rate: int, order: int = MCD_ORDER,
                   frame_ms: float = FRAME_MS) -> WorldFeatures:
    """F0 and mel-cepstrum of a mono float signal (any length of at least one frame)."""
    pw = _import_without_pkg_resources("pyworld")
    sptk = _import_without_pkg_resources("pysptk")
    x = np.ascontiguousarray(audio, dtype=np.float64)
    # Harvest, not DIO: DIO jumps an octave up on the weak tails of words (8 kHz FSDD)
    f0, times = pw.harvest(x, sample_rate, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL,
                           frame_period=frame_ms)
    envelope = pw.cheaptrick(x, f0, times, sample_rate, f0_floor=F0_FLOOR)
    alpha = sptk.util.mcepalpha(sample_rate)
    return WorldFeatures(f0=f0, mcep=sptk.sp2mc(envelope, order, alpha))


def dtw_path(cost: np.ndarray) -> tuple[float, np.ndarray]:
    """Minimum-cost monotone path from (0, 0) to (N-1, M-1) through a cost matrix [N, M]
    with steps (1, 0), (0, 1), (1, 1), each cell's cost counted once: (total, path [K, 2]).

    Row by row: D[i, j] = C[i, j] + min(D[i-1, j-1], D[i-1, j], D[i, j-1]). The in-row
    dependency is a running minimum: with S = cumsum(C[i]) and a_j = C[i, j] +
    min(D[i-1, j-1], D[i-1, j]), D[i, j] = S_j + min_{k <= j} (a_k - S_k), so each row is a
    few numpy operations rather than a Python loop over cells."""
    n, m = cost.shape
    acc = np.empty((n, m))
    acc[0] = np.cumsum(cost[0])
    for i in range(1, n):
        above = acc[i - 1]
        diagonal = np.concatenate(([np.inf], above[:-1]))
        a = cost[i] + np.minimum(above, diagonal)
        s = np.cumsum(cost[i])
        acc[i] = s + np.minimum.accumulate(a - s)
    # back from the end: prefer the diagonal on ties (the shortest path)
    i, j, path = n - 1, m - 1, [(n - 1, m - 1)]
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            steps = ((acc[i - 1, j - 1], i - 1, j - 1), (acc[i - 1, j], i - 1, j),
                     (acc[i, j - 1], i, j - 1))
            _, i, j = min(steps, key=lambda s: s[0])
        path.append((i, j))
    return float(acc[-1, -1]), np.array(path[::-1])


def frame_mcd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MCD (dB) of paired mel-cepstral frames [K, D] (c0 already left out)."""
    return DB * np.sqrt(2.0 * np.sum((a - b) ** 2, axis=-1))


def compare(ref: WorldFeatures, syn: WorldFeatures) -> dict:
    """MCD, F0 RMSE and voicing decision error of ``syn`` against ``ref`` along their DTW
    path; F0 RMSE is None when no path pair is voiced in both."""
    a, b = ref.mcep[:, 1:], syn.mcep[:, 1:]
    cost = cdist(a, b)  # Euclidean, as the MCD itself
    _, path = dtw_path(cost)
    i, j = path[:, 0], path[:, 1]
    voiced_ref, voiced_syn = ref.f0[i] > 0, syn.f0[j] > 0
    both = voiced_ref & voiced_syn
    f0_rmse = (float(np.sqrt(np.mean((ref.f0[i][both] - syn.f0[j][both]) ** 2)))
               if both.any() else None)
    return {"mcd": float(frame_mcd(a[i], b[j]).mean()), "f0_rmse": f0_rmse,
            "vde": float(np.mean(voiced_ref != voiced_syn)), "voiced_pairs": int(both.sum()),
            "path_len": len(path)}
