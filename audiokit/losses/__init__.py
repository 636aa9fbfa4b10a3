"""Training objectives shared by tasks."""

from audiokit.losses.hybrid_ctc_attention import HybridCTCAttentionLoss
from audiokit.losses.label_smoothing import LabelSmoothingKL
from audiokit.losses.perceptual import PerceptualLoss
from audiokit.losses.pit import PITLoss
from audiokit.losses.stft_loss import MultiResolutionSTFTLoss

__all__ = ["HybridCTCAttentionLoss", "LabelSmoothingKL", "MultiResolutionSTFTLoss", "PITLoss", "PerceptualLoss"]
