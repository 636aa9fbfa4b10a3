"""Duration predictors of VITS. Both read the text encoder's hidden states, detached (the
duration loss must not shape the text representation the prior uses).

- :class:`StochasticDurationPredictor` (VITS sec. 2.2.2): a flow models p(d | text); the
  integer durations are dequantised by a learned posterior (variational dequantisation),
  so training maximises a lower bound of log p(d | text). ``forward`` returns the negative
  bound per utterance; ``reverse=True`` draws log-durations from noise of scale
  ``noise_scale`` (``noise_scale_w`` at inference).
- :class:`DurationPredictor`: deterministic log-duration regression (FastSpeech-style);
  ``forward`` returns the squared error summed per utterance, ``reverse=True`` the
  predicted log-durations.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.models.tts.vits.duration_flows import (
    ConditionalAffineCoupling,
    DDSConv,
    ElementwiseAffine,
    Flip,
    LogFlow,
)

LOG_2PI = math.log(2 * math.pi)


def _flow(hidden: int, kernel: int, couplings: int) -> nn.ModuleList:
    layers = [ElementwiseAffine(2)]
    for _ in range(couplings):
        layers += [ConditionalAffineCoupling(2, hidden, kernel), Flip()]
    return nn.ModuleList(layers)


class StochasticDurationPredictor(nn.Module):
    def __init__(self, in_channels: int, hidden: int = 192, kernel: int = 3, dropout: float = 0.5,
                 flows: int = 4, cond_channels: int = 0) -> None:
        super().__init__()
        self.pre = nn.Conv1d(in_channels, hidden, 1)
        self.convs = DDSConv(hidden, kernel, 3, dropout)
        self.proj = nn.Conv1d(hidden, hidden, 1)
        self.cond = nn.Conv1d(cond_channels, hidden, 1) if cond_channels else None
        self.flows = _flow(hidden, kernel, flows)
        self.log_flow = LogFlow()
        # the dequantisation posterior q(u | d, text)
        self.post_pre = nn.Conv1d(1, hidden, 1)
        self.post_convs = DDSConv(hidden, kernel, 3, dropout)
        self.post_proj = nn.Conv1d(hidden, hidden, 1)
        self.post_flows = _flow(hidden, kernel, flows)

    def _condition(self, x: Tensor, mask: Tensor, g: Tensor | None) -> Tensor:
        h = self.pre(x.detach())
        if g is not None and self.cond is not None:
            h = h + self.cond(g.detach())
        return self.proj(self.convs(h, mask)) * mask

    def forward(self, x: Tensor, mask: Tensor, durations: Tensor | None = None,
                g: Tensor | None = None, reverse: bool = False, noise_scale: float = 1.0) -> Tensor:
        """``x`` [B, C, N], ``mask`` [B, 1, N], ``durations`` [B, 1, N] (frames per token) ->
        NLL [B] (training), or log-durations [B, 1, N] with ``reverse``."""
        h = self._condition(x, mask, g)
        if reverse:
            z = torch.randn(x.size(0), 2, x.size(2), device=x.device, dtype=x.dtype) * noise_scale
            for f in reversed(self.flows):
                z, _ = f(z, mask, h, reverse=True)
            return z[:, :1] * mask
        if durations is None:
            raise ValueError("the stochastic duration predictor needs durations to train")
        h_d = self.post_proj(self.post_convs(self.post_pre(durations), mask)) * mask
        noise = torch.randn(x.size(0), 2, x.size(2), device=x.device, dtype=x.dtype) * mask
        z_q, logdet_q = noise, 0.0
        for f in self.post_flows:
            z_q, ld = f(z_q, mask, h + h_d)
            logdet_q = logdet_q + ld
        z_u, z1 = z_q[:, :1], z_q[:, 1:]
        u = torch.sigmoid(z_u) * mask                     # dequantisation noise in (0, 1)
        z0 = (durations - u) * mask
        logdet_q = logdet_q + ((F.logsigmoid(z_u) + F.logsigmoid(-z_u)) * mask).sum([1, 2])
        log_q = (-0.5 * (LOG_2PI + noise ** 2) * mask).sum([1, 2]) - logdet_q
        z0, logdet = self.log_flow(z0, mask)
        z = torch.cat([z0, z1], 1)
        for f in self.flows:
            z, ld = f(z, mask, h)
            logdet = logdet + ld
        nll = (0.5 * (LOG_2PI + z ** 2) * mask).sum([1, 2]) - logdet
        return nll + log_q


class DurationPredictor(nn.Module):
    def __init__(self, in_channels: int, hidden: int = 256, kernel: int = 3, dropout: float = 0.5,
                 cond_channels: int = 0, **_unused) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, hidden, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2)
        self.norm1, self.norm2 = nn.GroupNorm(1, hidden), nn.GroupNorm(1, hidden)
        self.proj = nn.Conv1d(hidden, 1, 1)
        self.cond = nn.Conv1d(cond_channels, in_channels, 1) if cond_channels else None
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor, durations: Tensor | None = None,
                g: Tensor | None = None, reverse: bool = False, noise_scale: float = 1.0) -> Tensor:
        x = x.detach()
        if g is not None and self.cond is not None:
            x = x + self.cond(g.detach())
        x = self.dropout(self.norm1(torch.relu(self.conv1(x * mask))))
        x = self.dropout(self.norm2(torch.relu(self.conv2(x * mask))))
        log_d = self.proj(x * mask) * mask
        if reverse:
            return log_d
        if durations is None:
            raise ValueError("the duration predictor needs durations to train")
        target = torch.log(durations.clamp(min=1e-5)) * mask
        return ((log_d - target) ** 2 * mask).sum([1, 2])
