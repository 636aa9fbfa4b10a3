"""Small 2-D ResNet over log-mel "images" for utterance-level classification."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.utils.masking import lengths_to_mask, masked_mean


def _time_mask(lens: Tensor, num_frames: int) -> Tensor:
    """``[B, 1, 1, T]`` mask that broadcasts over a ``[B, C, F, T]`` feature map."""
    return lengths_to_mask(lens, num_frames)[:, None, None, :]


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus shortcut (He et al. 2016), kept blind to time padding."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        # Zero-init the last BN so each block starts as identity: deep nets train faster.
        nn.init.zeros_(self.bn2.weight)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        # Both the 3x3 (padding 1) and the 1x1 conv map L valid frames to ceil(L / stride).
        lens = torch.div(lens + self.stride - 1, self.stride, rounding_mode="floor")
        h = F.relu(self.bn1(self.conv1(x)))
        mask = _time_mask(lens, h.shape[-1])
        # BN shifts padded zeros to non-zero values; re-zero them before the next conv reads them.
        h = self.bn2(self.conv2(h.masked_fill(~mask, 0.0)))
        out = F.relu(h + self.shortcut(x)).masked_fill(~mask, 0.0)
        return out, lens


class ResNetClassifier(nn.Module):
    """ResNet on ``[B, 1, F, T]`` features with masked time pooling -> ``[B, num_classes]`` logits.

    Args:
        input_dim: feature bins per frame (F), e.g. 80 mel bins.
        num_classes: number of output classes.
        channels: width of each stage; stages after the first halve both F and T.
        blocks: residual blocks per stage.
        dropout: dropout before the classifier.
        max_pool: also max-pool over valid time and concatenate it to the mean.
        stem_freq_stride: stride of the stem convolution along frequency (2 halves the cost).
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        channels: Sequence[int] = (16, 32, 64, 128),
        blocks: Sequence[int] = (1, 1, 1, 1),
        dropout: float = 0.1,
        max_pool: bool = False,
        stem_freq_stride: int = 2,
    ) -> None:
        super().__init__()
        if len(channels) != len(blocks):
            raise ValueError(
                f"channels {list(channels)} and blocks {list(blocks)} differ in length"
            )
        self.input_dim = input_dim
        self.max_pool = max_pool
        self.stem = nn.Sequential(
            # Striding over frequency only keeps time resolution (and the length bookkeeping)
            # while making every later layer proportionally cheaper.
            nn.Conv2d(1, channels[0], 3, (stem_freq_stride, 1), 1, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(inplace=True),
        )
        layers = []
        in_channels = channels[0]
        for stage, (width, depth) in enumerate(zip(channels, blocks, strict=True)):
            for i in range(depth):
                stride = 2 if stage > 0 and i == 0 else 1
                layers.append(BasicBlock(in_channels, width, stride))
                in_channels = width
        self.blocks = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(in_channels * (2 if max_pool else 1), num_classes)

    def forward(self, feats: Tensor, lens: Tensor) -> Tensor:
        """``feats`` [B, T, F] (frames ``t >= lens[b]`` are padding), ``lens`` [B] -> [B, C]."""
        if feats.shape[-1] != self.input_dim:
            raise ValueError(f"expected {self.input_dim} feature bins, got {feats.shape[-1]}")
        x = feats.transpose(1, 2).unsqueeze(1)  # [B, 1, F, T]
        mask = _time_mask(lens, x.shape[-1])
        x = self.stem(x.masked_fill(~mask, 0.0)).masked_fill(~mask, 0.0)
        for block in self.blocks:
            x, lens = block(x, lens)
        x = x.mean(dim=2)  # frequency is never padded: a plain mean -> [B, C, T']
        mask = lengths_to_mask(lens, x.shape[-1]).unsqueeze(1)  # [B, 1, T']
        pooled = masked_mean(x, mask, dim=-1)
        if self.max_pool:
            peak = x.masked_fill(~mask, float("-inf")).amax(dim=-1)
            pooled = torch.cat([pooled, peak], dim=-1)
        return self.head(self.dropout(pooled))
