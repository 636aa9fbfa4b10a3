"""Separation / enhancement networks: ``Model(num_sources, ...)(mixture [B, T]) -> [B, S, T]``."""

from audiokit.models.separation.conv_tasnet import ConvTasNet
from audiokit.models.separation.dccrn import DCCRN
from audiokit.models.separation.dprnn import DPRNN
from audiokit.models.separation.dual_path import chunk, overlap_add
from audiokit.models.separation.filterbank import FilterbankDecoder, FilterbankEncoder
from audiokit.models.separation.norms import (
    ChannelLayerNorm,
    CumulativeLayerNorm,
    GlobalLayerNorm,
    make_norm,
)
from audiokit.models.separation.sepformer import SepFormer
from audiokit.models.separation.stft_mask import STFTMaskNet

__all__ = [
    "DCCRN",
    "DPRNN",
    "ChannelLayerNorm",
    "ConvTasNet",
    "CumulativeLayerNorm",
    "FilterbankDecoder",
    "FilterbankEncoder",
    "GlobalLayerNorm",
    "STFTMaskNet",
    "SepFormer",
    "chunk",
    "make_norm",
    "overlap_add",
]
