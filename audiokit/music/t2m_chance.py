"""Chance rows for ``audiokit-score task=t2m``: "generated" folders that ignore the captions.

- ``shuffled``: every caption gets a real clip of another caption (a random permutation of
  ``ref``'s clips with no clip left in place): real audio, so the Fréchet distance is that of
  real clips, while adherence is what ignoring the caption gives on this caption mix (the
  unconditional row, with a perfect unconditional generator);
- ``noise``: every caption gets seeded pink noise of its clip's length: the far end of the
  Fréchet distance.

Writes ``OUT/wav.scp`` (and the noise clips under ``OUT/wav/``), same ids as ``ref``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from audiokit.data.audio import audio_info
from audiokit.data.datadir import DataDir, write_kaldi_map

KINDS = ("shuffled", "noise")


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of ``range(n)`` with no fixed point (n >= 2)."""
    if n < 2:
        raise ValueError(f"a shuffle that moves every clip needs 2 or more clips, got {n}")
    while True:
        perm = rng.permutation(n)
        if not np.any(perm == np.arange(n)):
            return perm


def pink_noise(samples: int, rng: np.random.Generator, rms: float = 0.1) -> np.ndarray:
    """1/f noise: white noise shaped by 1/sqrt(f) in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1.0))
    noise = np.fft.irfft(spectrum, samples)
    return (noise * rms / max(np.sqrt(np.mean(noise ** 2)), 1e-12)).astype(np.float32)


def make_chance_dir(ref: str | Path, out: str | Path, kind: str, seed: int = 0) -> Path:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    data = DataDir.load(ref)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    utts = data.utt_ids
    if kind == "shuffled":
        perm = derangement(len(utts), rng)
        wav_scp = {u: data.wav_scp[utts[int(j)]] for u, j in zip(utts, perm, strict=True)}
    else:
        (out / "wav").mkdir(exist_ok=True)
        wav_scp = {}
        for u in utts:
            info = audio_info(data.wav_scp[u], u)
            path = out / "wav" / f"{u}.wav"
            sf.write(path, pink_noise(info.frames, rng), info.samplerate, subtype="PCM_16")
            wav_scp[u] = str(path)
    write_kaldi_map(out / "wav.scp", wav_scp)
    if data.utt2dur is not None:  # the clips' lengths are the captions' clips' lengths
        write_kaldi_map(out / "utt2dur", {u: f"{d:.4f}" for u, d in data.utt2dur.items()})
    return out
