"""Griffin-Lim from the project's log-mel: the non-neural baseline vocoder.

log-mel (the raw :meth:`LogMel.extract` features, no CMVN) -> mel power -> linear power by
least squares (torchaudio ``InverseMelScale``) -> phase by Griffin-Lim (torchaudio
``GriffinLim``). :class:`audiokit.tasks.gan.GriffinLimTask` wraps it as an untrained
vocoder task, so :mod:`audiokit.inference.vocode` runs it like HiFi-GAN (its "experiment
dir" is written by :func:`audiokit.inference.vocode.write_griffin_lim_exp_dir`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchaudio.transforms import GriffinLim, InverseMelScale

from audiokit.data.segments import crop_or_pad
from audiokit.frontends.logmel import LOG_OFFSET, LogMel


class GriffinLimVocoder(nn.Module):
    """log-mel [B, frames, n_mels] of ``frontend`` (a :class:`LogMel`, raw ``extract``
    features) -> waveform [B, frames * hop], aligned as a trained vocoder's output: output
    sample j is input sample j + (win - hop) / 2."""

    def __init__(self, frontend: LogMel, n_iter: int = 32, momentum: float = 0.99) -> None:
        super().__init__()
        mel = frontend.mel
        self.hop_length = frontend.hop_length
        n_stft = frontend.n_fft // 2 + 1
        self.inverse_mel = InverseMelScale(n_stft, mel.n_mels, mel.sample_rate, mel.f_min,
                                           mel.f_max, norm=mel.mel_scale.norm,
                                           mel_scale=mel.mel_scale.mel_scale,
                                           driver="gelsd")  # mel bins may be empty: rank-deficient
        self.griffin_lim = GriffinLim(frontend.n_fft, n_iter, frontend.win_length,
                                      frontend.hop_length, power=2.0, momentum=momentum)

    @torch.no_grad()
    def forward(self, feats: Tensor) -> Tensor:
        mel_power = (feats.float().exp() - LOG_OFFSET).clamp(min=0).transpose(1, 2)
        power = self.inverse_mel(mel_power).clamp(min=0)
        wav = self.griffin_lim(power)  # frame i centred on sample i * hop
        # a log-mel frame is centred on input sample i * hop + win / 2: shift by hop / 2
        return crop_or_pad(wav[:, self.hop_length // 2 :], feats.size(1) * self.hop_length)
