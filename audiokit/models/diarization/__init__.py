"""Diarization networks on frames ``(feats [B, T, F], lens)``: the speech/overlap detector
(``VADNet -> (logits, lens)``) and end-to-end neural diarization (``EEND -> {"logits", ...}``)."""

from audiokit.models.diarization.eend import EEND
from audiokit.models.diarization.vad_net import VADNet

__all__ = ["EEND", "VADNet"]
