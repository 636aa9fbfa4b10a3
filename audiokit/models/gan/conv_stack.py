"""The forward pass every sub-discriminator shares: convolutions with leaky ReLU, then a
projection to logits, keeping each layer's output for the feature-matching loss."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def conv_stack(convs: nn.ModuleList, post: nn.Module, x: Tensor,
               slope: float) -> tuple[Tensor, list[Tensor]]:
    """``(logits [B, *] flattened, [each conv's activation, ..., the logits map])``."""
    feats = []
    for conv in convs:
        x = F.leaky_relu(conv(x), slope)
        feats.append(x)
    x = post(x)
    feats.append(x)
    return x.flatten(1), feats
