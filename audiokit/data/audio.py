"""Audio I/O: soundfile to read, torchaudio to resample. Errors name the utterance and file."""

from __future__ import annotations

import io
import subprocess
from functools import lru_cache

import numpy as np
import soundfile as sf
import torch
import torchaudio


class AudioError(RuntimeError):
    """Unreadable, empty, non-finite or wrongly shaped audio; names the utterance and the file."""


def _read(source: str, start: float | None, end: float | None):
    """Read a wav.scp entry: a path, or a ``cmd |`` pipe whose stdout is an audio file."""
    if source.endswith("|"):
        out = subprocess.run(source[:-1], shell=True, capture_output=True, check=True).stdout
        data, sr = sf.read(io.BytesIO(out), dtype="float32", always_2d=True)
        if start is not None:
            data = data[int(start * sr) : int(end * sr) if end is not None else None]
        return data, sr
    sr = sf.info(source).samplerate
    first = int(round(start * sr)) if start is not None else 0
    last = int(round(end * sr)) if end is not None else -1
    data, sr = sf.read(source, start=first, stop=None if last < 0 else last,
                       dtype="float32", always_2d=True)
    return data, sr


@lru_cache(maxsize=16)
def _resampler(orig: int, new: int) -> torchaudio.transforms.Resample:
    return torchaudio.transforms.Resample(orig, new)


def load_audio(
    source: str,
    sample_rate: int,
    *,
    utt: str = "?",
    start: float | None = None,
    end: float | None = None,
    downmix: bool = False,
) -> torch.Tensor:
    """Load mono float32 audio ``[T]`` at ``sample_rate``.

    Multi-channel input is an error unless ``downmix`` (averaging channels silently changes
    what a model hears; we make the user say so).
    """
    where = f"utterance '{utt}' ({source})"
    try:
        data, sr = _read(source, start, end)
    except (sf.LibsndfileError, RuntimeError, OSError, subprocess.CalledProcessError) as e:
        raise AudioError(f"{where}: cannot read audio: {e}") from None
    if data.shape[0] == 0:
        raise AudioError(f"{where}: empty audio (0 samples)")
    if data.shape[1] != 1:
        if not downmix:
            raise AudioError(
                f"{where}: {data.shape[1]} channels, expected mono (set data.downmix=true to average)"
            )
        data = data.mean(axis=1, keepdims=True)
    if not np.isfinite(data).all():
        raise AudioError(f"{where}: audio contains NaN or Inf")
    wav = torch.from_numpy(np.ascontiguousarray(data[:, 0]))
    if sr != sample_rate:
        wav = _resampler(sr, sample_rate)(wav)
    return wav


def audio_duration(source: str, utt: str = "?") -> float:
    """Duration in seconds from the file header (no decoding)."""
    try:
        if source.endswith("|"):
            out = subprocess.run(source[:-1], shell=True, capture_output=True, check=True).stdout
            return sf.info(io.BytesIO(out)).duration
        return sf.info(source).duration
    except (sf.LibsndfileError, RuntimeError, OSError, subprocess.CalledProcessError) as e:
        raise AudioError(f"utterance '{utt}' ({source}): cannot read audio header: {e}") from None
