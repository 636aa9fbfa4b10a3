"""Training objectives shared by tasks."""

from audiokit.losses.hybrid_ctc_attention import HybridCTCAttentionLoss

__all__ = ["HybridCTCAttentionLoss"]
