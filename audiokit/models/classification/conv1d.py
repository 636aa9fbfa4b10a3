"""A small 1-D CNN classifier: convolutions over time with the feature bins as channels.

The worked example of docs/adding-a-model.md: the smallest useful model of the classification
interface, ``Model(input_dim, num_classes, ...)(feats [B, T, F], lens [B]) -> logits [B, C]``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from audiokit.utils.masking import lengths_to_mask, masked_mean


class Conv1dClassifier(nn.Module):
    """Stacked ``Conv1d`` + ReLU over time, masked mean pooling, then a linear layer.

    Padded frames are zeroed before every convolution, so a padded utterance gives the same
    logits as the utterance alone (its convolutions see zeros past the end either way).

    Args:
        input_dim: feature bins per frame (F); the task passes the frontend's output size.
        num_classes: number of output classes; the task passes the number of labels.
        channels: output channels of each convolution.
        kernel_size: odd kernel width in frames (``same`` padding keeps the length).
        dropout: dropout before the linear layer.
    """

    def __init__(self, input_dim: int, num_classes: int, channels: Sequence[int] = (64, 64),
                 kernel_size: int = 5, dropout: float = 0.1) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same padding), got {kernel_size}")
        self.input_dim = input_dim
        widths = [input_dim, *channels]
        self.convs = nn.ModuleList(
            nn.Conv1d(a, b, kernel_size, padding=kernel_size // 2) for a, b in zip(
                widths[:-1], widths[1:], strict=True))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(self, feats: Tensor, lens: Tensor) -> Tensor:
        """``feats`` [B, T, F] (frames ``t >= lens[b]`` are padding), ``lens`` [B] -> [B, C]."""
        if feats.shape[-1] != self.input_dim:
            raise ValueError(f"expected {self.input_dim} feature bins, got {feats.shape[-1]}")
        mask = lengths_to_mask(lens, feats.shape[1]).unsqueeze(1)  # [B, 1, T]
        x = feats.transpose(1, 2)  # [B, F, T]
        for conv in self.convs:
            x = conv(x.masked_fill(~mask, 0.0)).relu()
        return self.head(self.dropout(masked_mean(x, mask, dim=-1)))
