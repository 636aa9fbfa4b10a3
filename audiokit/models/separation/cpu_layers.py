"""Drop-in replacements for two torch layers whose CPU backward took a third of a Conv-TasNet
step.

Each computes the same function with the same parameters (so checkpoints load either way), as
plain elementwise ops that autograd runs vectorised; oneDNN's grouped-conv backward is the slow
part they avoid (timings and the training run they were measured in:
recipes/fsdd/sep/RESULTS.md). Neither is autocast: under bf16 autocast the depthwise conv
computes in its input's dtype (float32 after a norm), and PReLU's float32 weight promotes a
bf16 input to float32.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class PReLU(nn.PReLU):
    """``nn.PReLU`` written as ``relu(x) - a * relu(-x)``."""

    def forward(self, x: Tensor) -> Tensor:
        a = self.weight if self.num_parameters == 1 else self.weight.view(-1, *[1] * (x.dim() - 2))
        return F.relu(x) - a * F.relu(-x)


class DepthwiseConv1d(nn.Conv1d):
    """Unpadded, stride-1 depthwise ``nn.Conv1d`` as a sum of ``kernel_size`` shifted, scaled
    copies of the input: ``y[c, t] = b[c] + sum_k w[c, k] * x[c, t + k * dilation]``."""

    def __init__(self, channels: int, kernel_size: int, dilation: int = 1,
                 bias: bool = True) -> None:
        super().__init__(channels, channels, kernel_size, dilation=dilation, groups=channels,
                         bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        (kernel,), (dilation,) = self.kernel_size, self.dilation
        frames = x.shape[-1] - (kernel - 1) * dilation
        if frames < 1:
            raise ValueError(f"input of {x.shape[-1]} frames is shorter than the receptive field")
        weight = self.weight[:, 0, :, None]  # [C, K, 1]
        y = x[..., :frames] * weight[:, 0]
        for k in range(1, kernel):
            y = y + x[..., k * dilation : k * dilation + frames] * weight[:, k]
        return y if self.bias is None else y + self.bias[:, None]
