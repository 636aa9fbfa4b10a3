"""What every discriminator shares: a sub-discriminator's forward pass (convolutions with
leaky ReLU, then a projection to logits, keeping each layer's output for the feature-matching
loss), and how a multi-discriminator gathers its sub-discriminators' outputs."""

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


def gather(outputs: list[tuple[Tensor, list[Tensor]]]) -> tuple[list[Tensor], list[list[Tensor]]]:
    """Sub-discriminators' ``(logits, features)`` pairs as one list of logits and one list
    of feature lists, in the same order: what a multi-discriminator returns."""
    return [y for y, _ in outputs], [f for _, f in outputs]
