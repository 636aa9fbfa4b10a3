"""Vocoders: features (log-mel [B, frames, n_mels]) -> waveform [B, frames * hop]."""

from audiokit.models.vocoder.hifigan import HiFiGANGenerator

__all__ = ["HiFiGANGenerator"]
