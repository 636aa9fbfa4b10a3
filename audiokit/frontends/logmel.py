"""Batched log-mel filterbank features (torchaudio MelSpectrogram + log)."""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchaudio.transforms import MelSpectrogram

from audiokit.frontends.cmvn import GlobalCMVN
from audiokit.frontends.framing import ms_to_samples, next_power_of_two, num_frames, zero_padding
from audiokit.frontends.level import normalise_level
from audiokit.frontends.utterance_cmn import utterance_cmn
from audiokit.frontends.vtlp import vtlp

LOG_OFFSET = 1e-6  # log(mel + offset): keeps digital silence finite


class LogMel(nn.Module):
    """log(mel power spectrogram + 1e-6), Hann window, frames as in Kaldi (no centring).

    Times are in milliseconds so one config gives the right filterbank at any sample rate.
    Frame i covers samples [i * hop, i * hop + win); feat_lens = 1 + (lens - win) // hop.

    ``vtln_warp=(low, high)`` turns on vocal tract length perturbation (:func:`vtlp`): while the
    module is training, each utterance's spectrum is warped by a factor drawn uniformly from
    [low, high] before the mel filterbank. In eval mode (validation, inference, CMVN statistics)
    nothing is warped.

    ``utterance_cmn`` subtracts each utterance's own mean (over its valid frames) per mel bin
    before global CMVN, removing its level and fixed channel colouring (Kaldi's per-speaker CMN
    with one utterance per speaker).

    ``level_dbfs`` first scales each utterance's waveform to that RMS level
    (:func:`normalise_level`): the log offset then floors quiet and loud recordings alike.
    """

    def __init__(
        self,
        sample_rate: int,
        n_mels: int = 80,
        win_ms: float = 25.0,
        hop_ms: float = 10.0,
        n_fft: int | None = None,
        f_min: float = 0.0,
        f_max: float | None = None,
        stats_file: str | None = None,
        vtln_warp: Sequence[float] | None = None,
        utterance_cmn: bool = False,
        level_dbfs: float | None = None,
    ) -> None:
        super().__init__()
        self.win_length = ms_to_samples(sample_rate, win_ms)
        self.hop_length = ms_to_samples(sample_rate, hop_ms)
        self.n_fft = n_fft if n_fft is not None else next_power_of_two(self.win_length)
        if self.n_fft < self.win_length:
            raise ValueError(f"n_fft={self.n_fft} is shorter than the window ({self.win_length})")
        self.output_dim = n_mels
        if vtln_warp is not None and not (len(vtln_warp) == 2 and 0 < vtln_warp[0] <= vtln_warp[1]):
            raise ValueError(f"vtln_warp must be (low, high) with 0 < low <= high, got {vtln_warp}")
        self.vtln_warp = tuple(vtln_warp) if vtln_warp is not None else None
        self.utterance_cmn = utterance_cmn
        self.level_dbfs = level_dbfs
        self.mel = MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=self.n_fft,
            win_length=self.win_length,
            hop_length=self.hop_length,
            f_min=f_min,
            f_max=f_max if f_max is not None else sample_rate / 2,
            n_mels=n_mels,
            window_fn=torch.hann_window,
            power=2.0,
            center=False,
        )
        self.cmvn = GlobalCMVN(n_mels, stats_file)

    def extract(self, wav: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        """Raw log-mel features [B, T', n_mels] (no normalisation) and their lengths."""
        feat_lens = num_frames(lens, self.win_length, self.hop_length)
        max_frames = int(feat_lens.max())
        if max_frames == 0:
            return wav.new_zeros(wav.size(0), 0, self.output_dim), feat_lens
        if self.level_dbfs is not None:
            wav = normalise_level(wav, lens, self.level_dbfs)
        # Keep only the samples that complete frames need, so padding never adds frames.
        wav = wav[:, : (max_frames - 1) * self.hop_length + self.win_length]
        # torch.stft centres a short window inside the n_fft frame; pad so the window itself
        # starts at i * hop, which makes frame i depend only on samples [i * hop, i * hop + win).
        left = (self.n_fft - self.win_length) // 2
        wav = F.pad(wav, (left, self.n_fft - self.win_length - left))
        spec = self.mel.spectrogram(wav)  # [B, n_fft // 2 + 1, T'] power
        if self.training and self.vtln_warp is not None:
            low, high = self.vtln_warp
            spec = vtlp(spec, low + (high - low) * torch.rand(spec.size(0), device=spec.device))
        feats = torch.log(self.mel.mel_scale(spec) + LOG_OFFSET).transpose(1, 2)
        feats = zero_padding(feats, feat_lens)
        if self.utterance_cmn:
            feats = utterance_cmn(feats, feat_lens)
        return feats, feat_lens

    def forward(self, wav: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        return self.cmvn(*self.extract(wav, lens))
