"""ResNet speaker embedder ("r-vector", WeSpeaker's ResNet34): 2-D residual stages, stats pool."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from audiokit.models.classification.resnet import BasicBlock
from audiokit.models.speaker.pooling import StatsPool
from audiokit.utils.masking import lengths_to_mask


class ResNetSpeaker(nn.Module):
    """ResNet on ``[B, 1, F, T]`` features -> mean+std over time of (channels x freq) -> embedding.

    The stem (3x3, ``base_width`` channels) keeps full resolution; stages have widths
    ``base_width * (1, 2, 4, 8)`` and every stage after the first halves frequency and time.
    The last feature map is flattened to ``8 * base_width * ceil(F / 8)`` channels per frame,
    pooled to mean ++ std over valid frames and projected to the embedding (as in WeSpeaker,
    one linear layer, no extra BN). Blocks are the shared length-aware ``BasicBlock``.

    Args:
        input_dim: feature bins per frame (80 in WeSpeaker's recipes).
        embedding_dim: size of the embedding (256 in WeSpeaker).
        base_width: channels of the stem and first stage (32 for ResNet34 in WeSpeaker).
        blocks: BasicBlocks per stage; (3, 4, 6, 3) is ResNet34.
    """

    def __init__(
        self,
        input_dim: int,
        embedding_dim: int = 256,
        base_width: int = 32,
        blocks: Sequence[int] = (3, 4, 6, 3),
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.embedding_dim = embedding_dim
        self.stem = nn.Sequential(
            nn.Conv2d(1, base_width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(base_width),
            nn.ReLU(inplace=True),
        )
        layers = []
        in_channels, freq = base_width, input_dim
        for stage, depth in enumerate(blocks):
            width = base_width * 2**stage
            for i in range(depth):
                stride = 2 if stage > 0 and i == 0 else 1
                layers.append(BasicBlock(in_channels, width, stride))
                in_channels = width
                freq = -(-freq // stride)  # a 3x3 conv with padding 1 maps F to ceil(F / stride)
        self.blocks = nn.ModuleList(layers)
        self.pool = StatsPool()
        self.fc = nn.Linear(2 * in_channels * freq, embedding_dim)

    def forward(self, feats: Tensor, lens: Tensor) -> Tensor:
        """``feats`` [B, T, F] (frames ``t >= lens[b]`` are padding), ``lens`` [B] -> [B, D]."""
        if feats.shape[-1] != self.input_dim:
            raise ValueError(f"expected {self.input_dim} feature bins, got {feats.shape[-1]}")
        x = feats.transpose(1, 2).unsqueeze(1)  # [B, 1, F, T]
        mask = lengths_to_mask(lens, x.shape[-1])[:, None, None, :]  # [B, 1, 1, T]
        x = self.stem(x.masked_fill(~mask, 0.0)).masked_fill(~mask, 0.0)
        for block in self.blocks:
            x, lens = block(x, lens)
        x = x.flatten(1, 2)  # [B, C * F', T']: each (channel, band) pair is a pooled feature
        return self.fc(self.pool(x, lens))
