"""Key and mode of audio: a chromagram correlated with the Krumhansl-Kessler key profiles.

The chroma is librosa's constant-Q chromagram (``chroma_cqt``, tuning estimated), summed over
the clip without per-frame normalisation, so louder and longer notes weigh more, as note
durations do in the symbolic Krumhansl-Schmuckler algorithm. The key is the rotation of the
major or minor profile (Krumhansl & Kessler 1982, probe-tone ratings) with the highest Pearson
correlation to that 12-bin vector.
"""

from __future__ import annotations

import numpy as np

KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
HOP = 512


def chroma_vector(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """12 energies, C first, of a mono clip."""
    import librosa

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"chroma_vector needs mono audio [T], got shape {audio.shape}")
    chroma = librosa.feature.chroma_cqt(y=audio, sr=sample_rate, hop_length=HOP, norm=None)
    return chroma.sum(axis=1)


def key_scores(chroma: np.ndarray) -> np.ndarray:
    """``[2, 12]`` Pearson correlations: row 0 major, row 1 minor, column = tonic pitch class."""
    chroma = np.asarray(chroma, dtype=np.float64)
    x = chroma - chroma.mean()
    if not np.any(np.abs(x) > 1e-12 * max(np.abs(chroma).max(), 1e-30)):
        return np.full((2, 12), -1.0)  # a flat chroma (silence) correlates with no key
    scores = np.empty((2, 12))
    for row, profile in enumerate((KK_MAJOR, KK_MINOR)):
        for tonic in range(12):
            y = np.roll(profile, tonic) - profile.mean()
            scores[row, tonic] = x @ y / np.sqrt((x @ x) * (y @ y))
    return scores


def estimate_key(chroma: np.ndarray) -> tuple[int, str, float]:
    """``(tonic pitch class, "major" | "minor", correlation)`` of a 12-bin chroma vector."""
    scores = key_scores(chroma)
    row, tonic = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return int(tonic), ("major", "minor")[row], float(scores[row, tonic])


def audio_key(audio: np.ndarray, sample_rate: int) -> tuple[int, str, float]:
    return estimate_key(chroma_vector(audio, sample_rate))
