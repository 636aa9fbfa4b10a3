"""VITS (Kim et al. 2021): conditional VAE with a normalising flow, monotonic alignment search
and adversarial training, text -> waveform in one model. :class:`VITS` is the generator;
training runs through :class:`audiokit.tasks.vits.VITSTask` (a GAN task)."""

from audiokit.models.tts.vits.vits import VITS

__all__ = ["VITS"]
