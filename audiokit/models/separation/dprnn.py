"""DPRNN-TasNet (Luo et al. 2020): learned filterbank + dual-path (intra/inter-chunk) BiLSTMs."""

from __future__ import annotations

from torch import Tensor, nn

from audiokit.models.separation.dual_path import DualPathMaskHead, chunk
from audiokit.models.separation.filterbank import FilterbankDecoder, FilterbankEncoder


class _PathRNN(nn.Module):
    """RNN along one axis of ``[B, C, K, S]`` -> linear -> layer norm -> residual."""

    def __init__(self, channels: int, hidden_size: int, bidirectional: bool, along: str) -> None:
        super().__init__()
        self.along = along  # "intra": within a chunk (K); "inter": across chunks (S)
        self.rnn = nn.LSTM(channels, hidden_size, batch_first=True, bidirectional=bidirectional)
        self.proj = nn.Linear(hidden_size * (2 if bidirectional else 1), channels)
        # Norm over the whole [C, K, S] map, as in the reference implementation.
        self.norm = nn.GroupNorm(1, channels, eps=1e-8)

    def forward(self, x: Tensor) -> Tensor:
        batch, channels, size, num = x.shape
        if self.along == "intra":
            seq = x.permute(0, 3, 2, 1).reshape(batch * num, size, channels)
        else:
            seq = x.permute(0, 2, 3, 1).reshape(batch * size, num, channels)
        y = self.proj(self.rnn(seq)[0])
        if self.along == "intra":
            y = y.reshape(batch, num, size, channels).permute(0, 3, 2, 1)
        else:
            y = y.reshape(batch, size, num, channels).permute(0, 3, 1, 2)
        return x + self.norm(y.contiguous())


class DPRNNBlock(nn.Module):
    """One dual-path block: intra-chunk BiLSTM, then inter-chunk (Bi)LSTM."""

    def __init__(self, channels: int, hidden_size: int, bidirectional: bool = True) -> None:
        super().__init__()
        self.intra = _PathRNN(channels, hidden_size, True, "intra")
        self.inter = _PathRNN(channels, hidden_size, bidirectional, "inter")

    def forward(self, x: Tensor) -> Tensor:
        return self.inter(self.intra(x))


class DPRNN(nn.Module):
    """DPRNN-TasNet: ``mixture [B, T] -> sources [B, num_sources, T]``.

    The paper's best model uses a 2-sample filter (L=2, stride 1, chunk K=250); that runs on
    every sample and is slow, so the defaults use L=16 (stride 8) with K=100, a cheaper
    configuration with the same 2.6 M-parameter separator.

    Args:
        num_sources: sources to estimate (1 = enhancement).
        num_filters: N, encoder filters.  kernel_size: L (stride L // 2, at least 1).
        bottleneck_channels: feature size inside the dual-path blocks (paper: = N = 64).
        hidden_size: LSTM units per direction.  num_blocks: dual-path blocks.
        chunk_size: K, frames per chunk (hop K // 2).
        bidirectional: inter-chunk LSTM direction(s); the intra-chunk one is always bi.
        mask_activation: ``"relu"`` or ``"sigmoid"``.
    """

    def __init__(
        self,
        num_sources: int = 2,
        num_filters: int = 64,
        kernel_size: int = 16,
        bottleneck_channels: int = 64,
        hidden_size: int = 128,
        num_blocks: int = 6,
        chunk_size: int = 100,
        bidirectional: bool = True,
        mask_activation: str = "relu",
    ) -> None:
        super().__init__()
        self.num_sources = num_sources
        self.chunk_size = chunk_size
        stride = max(kernel_size // 2, 1)
        self.encoder = FilterbankEncoder(num_filters, kernel_size, stride)
        self.input_norm = nn.GroupNorm(1, num_filters, eps=1e-8)
        self.bottleneck = nn.Conv1d(num_filters, bottleneck_channels, 1, bias=False)
        self.blocks = nn.Sequential(
            *(DPRNNBlock(bottleneck_channels, hidden_size, bidirectional) for _ in range(num_blocks))
        )
        self.head = DualPathMaskHead(bottleneck_channels, num_filters, num_sources, mask_activation)
        self.decoder = FilterbankDecoder(num_filters, kernel_size, stride)

    def forward(self, mixture: Tensor) -> Tensor:
        feats = self.encoder(mixture)  # [B, N, frames]
        x = self.bottleneck(self.input_norm(feats))
        x = self.blocks(chunk(x, self.chunk_size))  # [B, C, K, S]
        masks = self.head(x, feats.shape[-1])  # [B, S, N, frames]
        return self.decoder(feats.unsqueeze(1) * masks, mixture.shape[-1])
