"""x-vector TDNN speaker embedder (Snyder et al. 2018): frame TDNN, stats pool, segment layers."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.models.speaker.pooling import StatsPool
from audiokit.utils.masking import lengths_to_mask


class TDNNLayer(nn.Module):
    """Dilated 1-D conv -> ReLU -> BN (Kaldi's affine/ReLU/batchnorm order), padding re-zeroed.

    A context {-d*(k-1)/2, ..., 0, ..., +d*(k-1)/2} is a conv of kernel ``k`` and dilation ``d``.
    The conv is "same"-padded (as SpeechBrain and WeSpeaker do; Kaldi drops the edge frames),
    and its output is zeroed beyond each utterance's length so that the next layer reads the
    same zeros at the utterance edge whether it is alone or padded in a batch. (In training
    mode the BN batch statistics still count padded frames, as in SpeechBrain and WeSpeaker;
    duration-bucketed batches or fixed-length training crops keep that small.)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1,
                 dilation: int = 1) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"TDNN kernel_size must be odd (symmetric context), got {kernel_size}")
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation,
                              padding=dilation * (kernel_size - 1) // 2)
        self.bn = nn.BatchNorm1d(out_channels)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """``x`` [B, C_in, T] (zero beyond the lengths), ``mask`` [B, 1, T] -> [B, C_out, T]."""
        return self.bn(F.relu(self.conv(x))).masked_fill(~mask, 0.0)


class XVector(nn.Module):
    """x-vector network: TDNN frame layers -> mean+std pooling -> segment layers -> embedding.

    Defaults are the paper's: frame layers of 512, 512, 512, 512, 1500 channels with contexts
    [t-2, t+2], {t-2, t, t+2}, {t-3, t, t+3}, {t}, {t}; pooling to 3000; segment6 (512, ReLU,
    BN) and segment7, whose affine output is the embedding that the margin head trains on.

    Args:
        input_dim: feature bins per frame (24 filterbanks or 30 MFCCs in the paper).
        embedding_dim: size of the returned embedding (output of the last segment layer).
        channels: output channels of each frame layer.
        kernel_sizes: conv kernel of each frame layer.
        dilations: conv dilation of each frame layer.
        segment_dim: width of the hidden segment layer; 0 maps the pooled stats straight to
            the embedding (a single segment layer).
    """

    def __init__(
        self,
        input_dim: int,
        embedding_dim: int = 512,
        channels: Sequence[int] = (512, 512, 512, 512, 1500),
        kernel_sizes: Sequence[int] = (5, 3, 3, 1, 1),
        dilations: Sequence[int] = (1, 2, 3, 1, 1),
        segment_dim: int = 512,
    ) -> None:
        super().__init__()
        if not len(channels) == len(kernel_sizes) == len(dilations):
            raise ValueError(f"channels {list(channels)}, kernel_sizes {list(kernel_sizes)} and "
                             f"dilations {list(dilations)} must have the same length")
        self.input_dim = input_dim
        self.embedding_dim = embedding_dim
        layers = []
        in_channels = input_dim
        for width, kernel, dilation in zip(channels, kernel_sizes, dilations, strict=True):
            layers.append(TDNNLayer(in_channels, width, kernel, dilation))
            in_channels = width
        self.frame_layers = nn.ModuleList(layers)
        self.pool = StatsPool()
        if segment_dim > 0:
            self.segment: nn.Module = nn.Sequential(
                nn.Linear(2 * in_channels, segment_dim),
                nn.ReLU(inplace=True),
                nn.BatchNorm1d(segment_dim),
                nn.Linear(segment_dim, embedding_dim),
            )
        else:
            self.segment = nn.Linear(2 * in_channels, embedding_dim)

    def forward(self, feats: Tensor, lens: Tensor) -> Tensor:
        """``feats`` [B, T, F] (frames ``t >= lens[b]`` are padding), ``lens`` [B] -> [B, D]."""
        if feats.shape[-1] != self.input_dim:
            raise ValueError(f"expected {self.input_dim} feature bins, got {feats.shape[-1]}")
        x = feats.transpose(1, 2)  # [B, F, T]
        mask = lengths_to_mask(lens, x.shape[-1]).unsqueeze(1)
        x = x.masked_fill(~mask, 0.0)
        for layer in self.frame_layers:
            x = layer(x, mask)
        return self.segment(self.pool(x, lens))
