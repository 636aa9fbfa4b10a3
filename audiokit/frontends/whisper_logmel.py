"""Whisper's log-mel features: 16 kHz, 25 ms Hann window (n_fft 400), 10 ms hop, Slaney mel
filters, log10, dynamic range clamped to 8 (80 dB) below the utterance's peak, scaled by
(x + 4) / 4, and (optionally) padded or trimmed to 30 s = 3000 frames as the released models
expect."""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchaudio.functional import melscale_fbanks

from audiokit.frontends.framing import zero_padding
from audiokit.utils.masking import lengths_to_mask

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160


class WhisperLogMel(nn.Module):
    """wav [B, T] at 16 kHz + lens -> feats [B, T', n_mels] + feat_lens.

    Frame i is centred on sample ``i * 160`` (the STFT is centred, as in Whisper, and the final
    frame of the centred STFT is dropped), so an utterance of n samples gives ``n // 160`` frames.
    The start of the signal is reflect-padded as ``torch.stft(center=True)`` does; the end is
    zero-padded, which equals Whisper's own result whenever the audio is padded to 30 s and makes
    an utterance's frames independent of how much the batch pads it.

    ``pad_to_seconds=30`` (the released models' input) pads or trims (with a warning) every
    utterance to 3000 frames of real Whisper features (silence, not zeros) and reports
    ``feat_lens = 3000``, since the model sees the padding. ``pad_to_seconds=None`` keeps each
    utterance's own length, with frames past it set to 0 (the audiokit frontend contract):
    cheap for short-utterance training, but a released checkpoint has only seen 30 s inputs.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, n_mels: int = 80,
                 pad_to_seconds: float | None = 30.0) -> None:
        super().__init__()
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"Whisper features are defined at 16000 Hz, got sample_rate="
                             f"{sample_rate}; set data.sample_rate=16000 (audio is resampled "
                             "on load)")
        if n_mels not in (80, 128):
            raise ValueError(f"Whisper models use 80 or 128 mel bins, got n_mels={n_mels}")
        self.output_dim = n_mels
        self.pad_samples = None if pad_to_seconds is None else int(pad_to_seconds * sample_rate)
        filters = melscale_fbanks(N_FFT // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate,
                                  norm="slaney", mel_scale="slaney")
        self.register_buffer("mel_filters", filters, persistent=False)  # [n_freqs, n_mels]
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)

    def forward(self, wav: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        # float32 throughout, even under bf16/fp16 autocast: log10 of tiny powers needs it
        with torch.autocast(device_type=wav.device.type, enabled=False):
            return self._features(wav.float(), lens)

    def _features(self, wav: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        if self.pad_samples is not None:
            if wav.size(1) > self.pad_samples and bool((lens > self.pad_samples).any()):
                log.warning("%d utterance(s) longer than %.0f s: only their first %.0f s are "
                            "used (no long-form chunking)", int((lens > self.pad_samples).sum()),
                            self.pad_samples / SAMPLE_RATE, self.pad_samples / SAMPLE_RATE)
            wav = wav[:, : self.pad_samples]
            lens = lens.clamp(max=self.pad_samples)
            # zero everything past each utterance: the padding is silence, as in Whisper
            wav = wav.masked_fill(~lengths_to_mask(lens, wav.size(1)), 0.0)
            wav = F.pad(wav, (0, self.pad_samples - wav.size(1)))
        n_frames = wav.size(1) // HOP_LENGTH
        half = N_FFT // 2
        if wav.size(1) > half:
            wav = F.pad(wav[:, None], (half, 0), mode="reflect")[:, 0]
        else:  # too short to reflect: zeros instead
            wav = F.pad(wav, (half, 0))
        wav = F.pad(wav, (0, half))
        spec = torch.stft(wav, N_FFT, HOP_LENGTH, window=self.window, center=False,
                          return_complex=True)[..., :n_frames]
        power = spec.abs().pow(2).transpose(1, 2)  # [B, T', n_freqs]
        log_spec = (power @ self.mel_filters).clamp(min=1e-10).log10()
        if self.pad_samples is not None:
            feat_lens = torch.full_like(lens, n_frames)
        else:
            feat_lens = (lens // HOP_LENGTH).clamp(max=n_frames)
        # the 80 dB floor is relative to each utterance's own peak (over its own frames)
        valid = lengths_to_mask(feat_lens, n_frames).unsqueeze(-1)
        peak = log_spec.masked_fill(~valid, float("-inf")).amax(dim=(1, 2), keepdim=True)
        log_spec = torch.maximum(log_spec, peak - 8.0)
        feats = (log_spec + 4.0) / 4.0
        return zero_padding(feats, feat_lens), feat_lens
