"""Audio I/O: soundfile to read, torchaudio to resample. Errors name the utterance and file."""

from __future__ import annotations

import io
import os
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
        raise AudioError(f"{where}: {_read_problem(source, e)}") from None
    if data.shape[0] == 0:
        raise AudioError(f"{where}: empty audio (0 samples)")
    if data.shape[1] != 1:
        if not downmix:
            raise AudioError(f"{where}: {data.shape[1]} channels, expected mono ({DOWNMIX_HINT})")
        data = data.mean(axis=1, keepdims=True)
    if not np.isfinite(data).all():
        raise AudioError(f"{where}: audio contains NaN or Inf")
    wav = torch.from_numpy(np.ascontiguousarray(data[:, 0]))
    if sr != sample_rate:
        wav = _resampler(sr, sample_rate)(wav)
    return wav


# What to set to average channels: in training (data.downmix) or in audiokit-infer (downmix).
DOWNMIX_HINT = "set data.downmix=true in training, downmix=true in audiokit-infer, to average"


def _read_problem(source: str, e: Exception, what: str = "audio") -> str:
    """Why a file could not be read, in words (libsndfile says "System error" for a missing
    file and "Format not recognised" for an empty one)."""
    if not source.endswith("|"):
        if not os.path.exists(source):
            return "no such file"
        if os.path.isdir(source):
            return "a directory, not an audio file"
        if os.path.getsize(source) == 0:
            return "empty file (0 bytes)"
        if not os.access(source, os.R_OK):
            return "permission denied"
    if isinstance(e, subprocess.CalledProcessError):
        return f"command failed with exit status {e.returncode}: {source[:-1].strip()}"
    return f"cannot read {what}: {e}"


def audio_info(source: str, utt: str = "?") -> sf._SoundFileInfo:
    """The file header (rate, channels, frames) without decoding; AudioError if unreadable."""
    try:
        if source.endswith("|"):
            out = subprocess.run(source[:-1], shell=True, capture_output=True, check=True).stdout
            return sf.info(io.BytesIO(out))
        return sf.info(source)
    except (sf.LibsndfileError, RuntimeError, OSError, subprocess.CalledProcessError) as e:
        raise AudioError(f"utterance '{utt}' ({source}): "
                         f"{_read_problem(source, e, 'audio header')}") from None


def audio_duration(source: str, utt: str = "?") -> float:
    """Duration in seconds from the file header (no decoding)."""
    return audio_info(source, utt).duration
