"""Neural audio codecs: SEANet encoder/decoder with a residual vector quantiser."""

from audiokit.models.codec.codec import SEANetCodec
from audiokit.models.codec.rvq import EMAVectorQuantizer, ResidualVectorQuantizer

__all__ = ["EMAVectorQuantizer", "ResidualVectorQuantizer", "SEANetCodec"]
