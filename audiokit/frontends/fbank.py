"""Kaldi-compatible log mel filterbank features (torchaudio.compliance.kaldi.fbank)."""

from torch import Tensor, nn
from torchaudio.compliance import kaldi

from audiokit.frontends.cmvn import GlobalCMVN
from audiokit.frontends.framing import ms_to_samples, next_power_of_two, num_frames
from audiokit.frontends.utterance_cmn import utterance_cmn

# Kaldi reads int16 samples; its energy floor and log epsilon assume that scale, so float audio
# in [-1, 1] is multiplied by 2**15 first (as ESPnet and WeNet do) to match Kaldi's features.
INT16_SCALE = 32768.0


class KaldiFbank(nn.Module):
    """Kaldi `compute-fbank-feats` features, one utterance at a time, then zero-padded.

    Uses Kaldi's defaults (povey window, pre-emphasis 0.97, DC removal, snip_edges) with dither
    off so features are deterministic. Kaldi only pads the FFT to the window length or to the next
    power of two, so n_fft must be None (= next power of two), that value, or the window length.

    ``utterance_cmn`` subtracts each utterance's own mean (over its valid frames) per mel bin
    before global CMVN, as LogMel's option of the same name (Kaldi's apply-cmvn per utterance).
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
        utterance_cmn: bool = False,
    ) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.win_ms = win_ms
        self.hop_ms = hop_ms
        self.f_min = f_min
        self.f_max = f_max if f_max is not None else sample_rate / 2
        self.win_length = ms_to_samples(sample_rate, win_ms)
        self.hop_length = ms_to_samples(sample_rate, hop_ms)
        padded = next_power_of_two(self.win_length)
        if n_fft not in (None, padded, self.win_length):
            raise ValueError(
                f"KaldiFbank supports n_fft = {padded} (next power of two) or {self.win_length} "
                f"(window length), got {n_fft}"
            )
        self.round_to_power_of_two = n_fft in (None, padded)
        self.n_fft = padded if self.round_to_power_of_two else self.win_length
        self.output_dim = n_mels
        self.utterance_cmn = utterance_cmn
        self.cmvn = GlobalCMVN(n_mels, stats_file)

    def extract(self, wav: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        """Raw Kaldi log filterbanks [B, T', n_mels] (no normalisation) and their lengths."""
        feat_lens = num_frames(lens, self.win_length, self.hop_length)
        feats = wav.new_zeros(wav.size(0), int(feat_lens.max()), self.n_mels)
        for b, (n, frames) in enumerate(zip(lens.tolist(), feat_lens.tolist(), strict=True)):
            if frames == 0:  # Kaldi's fbank cannot take a signal shorter than one window
                continue
            feats[b, :frames] = kaldi.fbank(
                wav[b : b + 1, :n] * INT16_SCALE,
                sample_frequency=self.sample_rate,
                num_mel_bins=self.n_mels,
                frame_length=self.win_ms,
                frame_shift=self.hop_ms,
                low_freq=self.f_min,
                high_freq=self.f_max,
                round_to_power_of_two=self.round_to_power_of_two,
                dither=0.0,
            )
        if self.utterance_cmn:
            feats = utterance_cmn(feats, feat_lens)
        return feats, feat_lens

    def forward(self, wav: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        return self.cmvn(*self.extract(wav, lens))
