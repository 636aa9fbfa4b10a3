"""Learned filterbank: Conv1d analysis encoder and ConvTranspose1d synthesis decoder."""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn


class FilterbankEncoder(nn.Module):
    """``[B, T]`` waveform -> ``[B, N, frames]`` (non-negative with ``activation="relu"``).

    The waveform is padded with ``kernel_size - stride`` zeros on both sides (so the edge samples
    are covered by as many frames as any other) and then up to a whole number of frames, so any
    length ``T >= 1`` works. Padding only on the left and right edges keeps the encoder
    causal up to its one-frame latency of ``kernel_size`` samples.

    Args:
        num_filters: N, number of basis filters.
        kernel_size: L, filter length in samples.
        stride: hop in samples (default ``L // 2``, 50 % overlap).
        activation: ``"relu"`` (Conv-TasNet) or ``"none"``.
    """

    def __init__(
        self,
        num_filters: int,
        kernel_size: int,
        stride: int | None = None,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        stride = stride or max(kernel_size // 2, 1)
        if not 1 <= stride <= kernel_size:
            raise ValueError(f"stride must be in [1, kernel_size={kernel_size}], got {stride}")
        if activation not in ("relu", "none"):
            raise ValueError(f"activation must be 'relu' or 'none', got {activation!r}")
        self.num_filters = num_filters
        self.kernel_size = kernel_size
        self.stride = stride
        self.activation = activation
        self.conv = nn.Conv1d(1, num_filters, kernel_size, stride, bias=False)

    def padding(self, length: int) -> tuple[int, int]:
        """(front, back) zeros that make ``length`` samples a whole number of frames."""
        front = self.kernel_size - self.stride
        total = 2 * front + length  # the same overlap margin at the end as at the start
        frames = math.ceil(max(total - self.kernel_size, 0) / self.stride) + 1
        return front, self.kernel_size + (frames - 1) * self.stride - front - length

    def forward(self, wav: Tensor) -> Tensor:
        if wav.dim() != 2:
            raise ValueError(f"expected a [batch, time] waveform, got shape {tuple(wav.shape)}")
        front, back = self.padding(wav.shape[-1])
        feats = self.conv(F.pad(wav, (front, back)).unsqueeze(1))
        return F.relu(feats) if self.activation == "relu" else feats


class FilterbankDecoder(nn.Module):
    """``[..., N, frames]`` -> ``[..., length]``: overlap-add synthesis, cropped to the input."""

    def __init__(self, num_filters: int, kernel_size: int, stride: int | None = None) -> None:
        super().__init__()
        self.num_filters = num_filters
        self.kernel_size = kernel_size
        self.stride = stride or max(kernel_size // 2, 1)
        self.conv = nn.ConvTranspose1d(num_filters, 1, kernel_size, self.stride, bias=False)

    def forward(self, feats: Tensor, length: int) -> Tensor:
        lead = feats.shape[:-2]
        wav = self.conv(feats.reshape(-1, *feats.shape[-2:])).squeeze(1)
        front = self.kernel_size - self.stride  # the encoder's front padding
        return wav[:, front : front + length].reshape(*lead, length)
