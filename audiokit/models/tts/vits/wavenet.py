"""WaveNet-style stack of non-causal dilated convolutions with gated activations and an
optional global condition (speaker), as the posterior encoder and coupling layers of VITS
(and Glow-TTS) use it. Output: the sum of the layers' skip connections."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm


class WaveNetStack(nn.Module):
    def __init__(self, channels: int, kernel: int, dilation_rate: int, layers: int,
                 cond_channels: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        self.channels, self.layers = channels, layers
        self.in_layers, self.res_skip = nn.ModuleList(), nn.ModuleList()
        for i in range(layers):
            d = dilation_rate ** i
            self.in_layers.append(weight_norm(nn.Conv1d(channels, 2 * channels, kernel,
                                                        dilation=d, padding=d * (kernel - 1) // 2)))
            # the last layer has no residual output, only a skip
            out = 2 * channels if i < layers - 1 else channels
            self.res_skip.append(weight_norm(nn.Conv1d(channels, out, 1)))
        self.cond = weight_norm(nn.Conv1d(cond_channels, 2 * channels * layers, 1)) if cond_channels else None
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor, g: Tensor | None = None) -> Tensor:
        """``x`` [B, C, T], ``mask`` [B, 1, T], ``g`` [B, cond, 1] -> [B, C, T]."""
        skip = torch.zeros_like(x)
        cond = self.cond(g).chunk(self.layers, dim=1) if (g is not None and self.cond is not None) else None
        for i, (layer, res_skip) in enumerate(zip(self.in_layers, self.res_skip, strict=True)):
            h = layer(x)
            if cond is not None:
                h = h + cond[i]
            a, b = h.chunk(2, dim=1)
            h = self.dropout(torch.tanh(a) * torch.sigmoid(b))
            out = res_skip(h)
            if i < self.layers - 1:
                res, s = out.chunk(2, dim=1)
                x = (x + res) * mask
                skip = skip + s
            else:
                skip = skip + out
        return skip * mask
