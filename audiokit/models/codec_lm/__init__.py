"""Codec language models: codebook patterns, the multi-codebook LM, VALL-E's NAR stage and
sampling (see :mod:`.generate`)."""

from audiokit.models.codec_lm.generate import Generated, generate, generate_windowed, sample
from audiokit.models.codec_lm.lm import CodecLM
from audiokit.models.codec_lm.nar import CodecNAR
from audiokit.models.codec_lm.patterns import PATTERNS, CodebookPattern, get_pattern

__all__ = ["PATTERNS", "CodebookPattern", "CodecLM", "CodecNAR", "Generated", "generate",
           "generate_windowed", "get_pattern", "sample"]
