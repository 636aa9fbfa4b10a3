"""Self-supervised pretraining models (Audio-MAE)."""

from audiokit.models.ssl.audio_mae import AudioMAE, masked_patch_mse
from audiokit.models.ssl.masking import PatchMasker

__all__ = ["AudioMAE", "PatchMasker", "masked_patch_mse"]
