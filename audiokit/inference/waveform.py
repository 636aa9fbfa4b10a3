"""What every inference pipeline accepts as one recording, turned into what its model reads.

    classifier(wav)                        # 1-D float tensor at the model's rate, as before
    classifier(np_array, sample_rate=44100)  # numpy, resampled to the model's rate
    classifier(stereo_tensor_2xT, sample_rate=16000)   # [channels, T]: averaged to mono
    classifier("recording.flac")           # a file: read with soundfile at its own rate

Accepted: a torch tensor or numpy array of any float dtype, 1-D ``[T]`` or ``[channels, T]``
(channels are averaged; soundfile's ``[T, channels]`` layout, with up to 16 channels and more
samples than channels, is recognised and transposed), or the path of an audio file.
``sample_rate`` is the rate of the array; without it the array is taken to be at the model's
rate (a file knows its own rate). Everything else (integers, empty or non-finite audio,
3-D arrays) is refused with a message that says what to do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torchaudio

from audiokit.utils.errors import UserError

MAX_CHANNELS = 16  # more than this in the last axis is not a channel axis


def read_file(path: str | Path) -> tuple[torch.Tensor, int]:
    """([channels, T] float32, rate) of an audio file; a missing or unreadable file is named."""
    import soundfile as sf

    if not Path(path).is_file():
        raise UserError(f"{path}: no such file")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise UserError(f"{path}: cannot read audio: {e}") from None
    return torch.from_numpy(np.ascontiguousarray(data.T)), int(rate)


def _as_tensor(waveform) -> torch.Tensor:
    if isinstance(waveform, torch.Tensor):
        return waveform.detach()
    if isinstance(waveform, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(waveform))
    if isinstance(waveform, (list, tuple)) and waveform and not isinstance(waveform[0], str):
        return torch.as_tensor(np.asarray(waveform, dtype=np.float32))
    raise UserError(f"audio must be a torch tensor, a numpy array or a file path, got "
                    f"{type(waveform).__name__}")


def prepare_waveform(waveform, model_rate: int, sample_rate: int | None = None) -> torch.Tensor:
    """Mono float32 ``[T]`` at ``model_rate`` from any accepted input (see the module doc)."""
    if isinstance(waveform, (str, Path)):
        wav, file_rate = read_file(waveform)
        if sample_rate is not None and sample_rate != file_rate:
            raise UserError(f"{waveform} is at {file_rate} Hz, but sample_rate={sample_rate} "
                            "was given: leave sample_rate out for a file")
        sample_rate = file_rate
    else:
        wav = _as_tensor(waveform)
    if wav.is_complex() or not wav.is_floating_point():
        hint = (" (int16 PCM: divide by 32768)" if wav.dtype == torch.int16 else "")
        raise UserError(f"audio samples must be floats in [-1, 1], got {wav.dtype}{hint}")
    if wav.dim() == 2 and wav.shape[1] <= MAX_CHANNELS < wav.shape[0]:
        wav = wav.T  # soundfile's [T, channels]
    if wav.dim() == 2:
        wav = wav.mean(0) if wav.shape[0] > 1 else wav[0]
    if wav.dim() != 1:
        raise UserError(f"audio must be [T] or [channels, T], got shape {list(wav.shape)}")
    if wav.numel() == 0:
        raise UserError("audio is empty (0 samples)")
    wav = wav.to("cpu", torch.float32)
    if not torch.isfinite(wav).all():
        raise UserError("audio contains NaN or Inf")
    if sample_rate is not None:
        if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise UserError(f"sample_rate must be a positive whole number of Hz, got "
                            f"{sample_rate!r}")
        if sample_rate != model_rate:
            wav = torchaudio.functional.resample(wav, int(sample_rate), model_rate)
    return wav.contiguous()


def check_kind(task, pipeline: type, exp_dir) -> None:
    """``Speech2Text.from_exp_dir`` on a classifier's exp dir: say which pipeline the
    experiment needs instead of failing on a missing attribute later."""
    from hydra.utils import get_class

    wanted = str(getattr(task, "inference", "") or "")
    wanted_cls = get_class(wanted) if wanted else None
    if wanted_cls is None or not (issubclass(wanted_cls, pipeline)
                                  or issubclass(pipeline, wanted_cls)):
        needs = wanted.rsplit(".", 1)[-1] or "none (it is used inside another pipeline)"
        raise UserError(f"{exp_dir}: a {type(task).__name__} experiment, not one for "
                        f"{pipeline.__name__}; its pipeline: {needs}")
