"""Framing arithmetic shared by the frontends: window sizes, frame counts, padding masks."""

from torch import Tensor

from audiokit.utils.masking import lengths_to_mask


def ms_to_samples(sample_rate: int, ms: float) -> int:
    """Milliseconds to samples, truncating exactly as Kaldi (and torchaudio's Kaldi port) do,
    so that LogMel, KaldiFbank and SincNet agree on window and hop sizes."""
    return int(sample_rate * ms * 0.001)


def next_power_of_two(n: int) -> int:
    return 1 << (n - 1).bit_length()


def num_frames(lens: Tensor, win_length: int, hop_length: int) -> Tensor:
    """Frames whose whole window lies inside the signal (Kaldi's snip_edges / center=False)."""
    return (1 + (lens - win_length) // hop_length).clamp(min=0)


def zero_padding(feats: Tensor, lens: Tensor) -> Tensor:
    """Set frames t >= lens[b] of feats [B, T, F] to exactly 0 (masked_fill, so inf/nan can't leak)."""
    return feats.masked_fill(~lengths_to_mask(lens, feats.size(1)).unsqueeze(-1), 0.0)
