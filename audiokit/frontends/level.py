"""Per-utterance level normalisation of a padded waveform batch."""

import torch
from torch import Tensor

SILENCE_DBFS = -100.0  # a recording quieter than this (digital silence) is scaled as if at it


def normalise_level(wav: Tensor, lens: Tensor, rms_dbfs: float) -> Tensor:
    """Scale each utterance so the RMS of its first lens[b] samples is ``rms_dbfs`` dB full scale.

    A log feature with an additive floor (log(mel + offset)) is not level-invariant: a quiet
    recording's weak bins sit on the floor where a loud one's do not, which a per-utterance
    mean in the log domain cannot undo. Scaling the waveform first puts every recording at the
    same level relative to that floor. Padding stays zero.
    """
    valid = torch.arange(wav.size(-1), device=wav.device) < lens[:, None]
    power = (wav.square() * valid).sum(-1) / lens.clamp(min=1)
    power = power.clamp(min=10 ** (SILENCE_DBFS / 10))
    gain = 10 ** (rms_dbfs / 20) / power.sqrt()
    return wav * gain[:, None] * valid
