"""Music Transformer (relative self-attention with the memory-efficient skew) and its
absolute-position control, both causal LMs over event tokens."""

from audiokit.models.music.music_transformer import MusicTransformer
from audiokit.models.music.relative_attention import RelativeCausalSelfAttention, skew

__all__ = ["MusicTransformer", "RelativeCausalSelfAttention", "skew"]
