"""Dual-path helpers shared by DPRNN and SepFormer: 50 %-overlap chunking, overlap-add back,
and the gated mask head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _chunk_geometry(frames: int, chunk_size: int) -> tuple[int, int, int]:
    """(hop, front pad, back pad) so every frame lies inside whole chunks."""
    if chunk_size < 2:
        raise ValueError(f"chunk_size must be >= 2, got {chunk_size}")
    hop = chunk_size // 2
    total = frames + 2 * hop  # pad one hop on both sides: edge frames are covered twice too
    rest = (hop - (total - chunk_size) % hop) % hop if total > chunk_size else chunk_size - total
    return hop, hop, hop + rest


def chunk(x: Tensor, chunk_size: int) -> Tensor:
    """``[B, C, T]`` -> ``[B, C, chunk_size, num_chunks]`` with a hop of ``chunk_size // 2``."""
    hop, front, back = _chunk_geometry(x.shape[-1], chunk_size)
    x = F.pad(x, (front, back))
    return x.unfold(-1, chunk_size, hop).transpose(-1, -2).contiguous()


def overlap_add(chunks: Tensor, frames: int) -> Tensor:
    """Inverse of :func:`chunk`: ``[B, C, K, S]`` -> ``[B, C, frames]``.

    Overlapping chunks are averaged (not just summed), so ``overlap_add(chunk(x), T) == x``.
    """
    batch, channels, size, num = chunks.shape
    hop, front, back = _chunk_geometry(frames, size)
    padded = front + frames + back
    cols = chunks.reshape(batch, channels * size, num)
    out = F.fold(cols, (padded, 1), (size, 1), stride=(hop, 1)).reshape(batch, channels, padded)
    ones = torch.ones(1, size, num, device=chunks.device, dtype=chunks.dtype)
    count = F.fold(ones, (padded, 1), (size, 1), stride=(hop, 1)).reshape(1, 1, padded)
    return (out / count.clamp_min(1.0))[..., front : front + frames]


class DualPathMaskHead(nn.Module):
    """Chunked features -> per-source masks ``[B, S, N, frames]``.

    PReLU and a 1x1 conv give each source its own channels; after overlap-add a tanh * sigmoid
    gate and a 1x1 conv back to the encoder's N filters (Luo et al. 2020; Subakan et al. 2021).
    """

    def __init__(
        self, channels: int, num_filters: int, num_sources: int, activation: str = "relu"
    ) -> None:
        super().__init__()
        if activation not in ("relu", "sigmoid"):
            raise ValueError(f"mask activation must be 'relu' or 'sigmoid', got {activation!r}")
        self.num_sources = num_sources
        self.activation = activation
        self.prelu = nn.PReLU()
        self.split = nn.Conv2d(channels, num_sources * channels, 1)
        self.gate_tanh = nn.Conv1d(channels, channels, 1)
        self.gate_sigmoid = nn.Conv1d(channels, channels, 1)
        self.out = nn.Conv1d(channels, num_filters, 1, bias=False)

    def forward(self, chunks: Tensor, frames: int) -> Tensor:
        batch, channels, size, num = chunks.shape
        x = self.split(self.prelu(chunks))
        x = x.reshape(batch * self.num_sources, channels, size, num)
        x = overlap_add(x, frames)
        x = self.out(torch.tanh(self.gate_tanh(x)) * torch.sigmoid(self.gate_sigmoid(x)))
        masks = F.relu(x) if self.activation == "relu" else torch.sigmoid(x)
        return masks.reshape(batch, self.num_sources, -1, frames)
