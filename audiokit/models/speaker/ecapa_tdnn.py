"""ECAPA-TDNN speaker embedder (Desplanques et al. 2020): SE-Res2Net blocks, MFA, attentive pool."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.models.speaker.pooling import AttentiveStatsPool
from audiokit.models.speaker.xvector import TDNNLayer
from audiokit.utils.masking import lengths_to_mask, masked_mean


class Res2Conv(nn.Module):
    """Res2Net's hierarchical dilated conv: ``scale`` channel groups, each feeding the next.

    Group 1 passes through; group i > 1 gets ``y_i = TDNN(x_i + y_{i-1})`` (``y_1 = 0``), so
    later groups see ever larger receptive fields at the cost of one small conv each.
    """

    def __init__(self, channels: int, kernel_size: int, dilation: int, scale: int) -> None:
        super().__init__()
        if channels % scale:
            raise ValueError(f"channels ({channels}) not divisible by the Res2Net scale ({scale})")
        self.width = channels // scale
        self.convs = nn.ModuleList(
            TDNNLayer(self.width, self.width, kernel_size, dilation) for _ in range(scale - 1)
        )

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        groups = x.split(self.width, dim=1)
        out = [groups[0]]
        y: Tensor | None = None
        for conv, group in zip(self.convs, groups[1:], strict=True):
            y = conv(group if y is None else group + y, mask)
            out.append(y)
        return torch.cat(out, dim=1)


class SqueezeExcite(nn.Module):
    """Channel gates from the mean over valid frames: ``x * sigmoid(W2 ReLU(W1 mean))``."""

    def __init__(self, channels: int, bottleneck: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, bottleneck)
        self.fc2 = nn.Linear(bottleneck, channels)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        squeezed = masked_mean(x, mask, dim=-1)  # [B, C]
        gates = torch.sigmoid(self.fc2(F.relu(self.fc1(squeezed))))
        return x * gates.unsqueeze(-1)


class SERes2Block(nn.Module):
    """1x1 TDNN -> Res2 dilated TDNN -> 1x1 TDNN -> SE, plus a residual connection."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, scale: int,
                 se_channels: int) -> None:
        super().__init__()
        self.conv_in = TDNNLayer(channels, channels, 1)
        self.res2 = Res2Conv(channels, kernel_size, dilation, scale)
        self.conv_out = TDNNLayer(channels, channels, 1)
        self.se = SqueezeExcite(channels, se_channels)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.conv_out(self.res2(self.conv_in(x, mask), mask), mask)
        return self.se(h, mask) + x


class ECAPATDNN(nn.Module):
    """ECAPA-TDNN: ``[B, T, F]`` features -> ``[B, embedding_dim]`` speaker embeddings.

    conv(k=5) -> SE-Res2Blocks (k=3, dilations 2, 3, 4) -> multi-layer feature aggregation
    (concatenated block outputs, 1x1 conv to 1536) -> attentive statistics pooling -> BN ->
    linear -> BN. With ``dense_residual`` each block's input is the sum of the stem and all
    earlier block outputs (the paper's "feature aggregation and summation", Sec. 3.3).

    Args:
        input_dim: feature bins per frame (80 log-mels in the paper).
        embedding_dim: size of the embedding (192 in the paper).
        channels: C, width of the frame-level blocks: 512 or 1024 in the paper.
        dilations: one SE-Res2Block per entry, with that dilation.
        kernel_size: kernel of the Res2 convs.
        scale: Res2Net scale (channel groups).
        se_channels: SE bottleneck.
        mfa_channels: output of the aggregation conv (1536 for both C in the paper).
        attention_channels: bottleneck of the attentive pooling.
        global_context: attentive pooling sees the utterance mean/std too.
        dense_residual: sum earlier block outputs into each block's input.
    """

    def __init__(
        self,
        input_dim: int,
        embedding_dim: int = 192,
        channels: int = 512,
        dilations: Sequence[int] = (2, 3, 4),
        kernel_size: int = 3,
        scale: int = 8,
        se_channels: int = 128,
        mfa_channels: int = 1536,
        attention_channels: int = 128,
        global_context: bool = True,
        dense_residual: bool = True,
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.embedding_dim = embedding_dim
        self.dense_residual = dense_residual
        self.stem = TDNNLayer(input_dim, channels, 5)
        self.blocks = nn.ModuleList(
            SERes2Block(channels, kernel_size, d, scale, se_channels) for d in dilations
        )
        self.mfa = nn.Conv1d(channels * len(dilations), mfa_channels, 1)
        self.pool = AttentiveStatsPool(mfa_channels, attention_channels, global_context)
        self.pool_bn = nn.BatchNorm1d(2 * mfa_channels)
        self.fc = nn.Linear(2 * mfa_channels, embedding_dim)
        self.embedding_bn = nn.BatchNorm1d(embedding_dim)

    def forward(self, feats: Tensor, lens: Tensor) -> Tensor:
        """``feats`` [B, T, F] (frames ``t >= lens[b]`` are padding), ``lens`` [B] -> [B, D]."""
        if feats.shape[-1] != self.input_dim:
            raise ValueError(f"expected {self.input_dim} feature bins, got {feats.shape[-1]}")
        x = feats.transpose(1, 2)  # [B, F, T]
        mask = lengths_to_mask(lens, x.shape[-1]).unsqueeze(1)
        x = self.stem(x.masked_fill(~mask, 0.0), mask)
        outputs = []
        block_in = x
        for block in self.blocks:
            out = block(block_in, mask)
            outputs.append(out)
            block_in = block_in + out if self.dense_residual else out
        h = F.relu(self.mfa(torch.cat(outputs, dim=1)))  # padding is masked by the pooling
        return self.embedding_bn(self.fc(self.pool_bn(self.pool(h, lens))))
