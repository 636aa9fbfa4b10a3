"""Statistics pooling over the valid frames: plain (x-vector) and attentive (ECAPA)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.utils.masking import lengths_to_mask, masked_mean


def masked_mean_std(x: Tensor, mask: Tensor, eps: float = 1e-6) -> tuple[Tensor, Tensor]:
    """Mean and (population) standard deviation of ``x`` [B, C, T] over ``mask`` [B, 1, T].

    Two passes (mean first, then the mean squared deviation) rather than E[x^2] - E[x]^2, which
    cancels catastrophically for large activations. The variance is floored at ``eps`` so a
    constant channel (or a one-frame utterance) gives a finite gradient.
    """
    mean = masked_mean(x, mask, dim=-1)
    var = masked_mean((x - mean.unsqueeze(-1)).pow(2), mask, dim=-1)
    return mean, var.clamp(min=eps).sqrt()


class StatsPool(nn.Module):
    """``[B, C, T]`` frames + ``[B]`` lengths -> ``[B, 2C]`` (mean ++ std over valid frames)."""

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor, lens: Tensor) -> Tensor:
        mask = lengths_to_mask(lens, x.shape[-1]).unsqueeze(1)
        mean, std = masked_mean_std(x, mask, self.eps)
        return torch.cat([mean, std], dim=-1)


class AttentiveStatsPool(nn.Module):
    """Channel- and context-dependent attentive statistics pooling (Desplanques et al. 2020).

    Each channel gets its own softmax over time (``e = W2 tanh(BN(ReLU(W1 h_t)))``, one score
    per channel and frame). With ``global_context`` the attention input ``h_t`` is the frame
    concatenated with the utterance's (unweighted, masked) mean and std, so the weights can
    depend on utterance-level properties such as noise or channel. Padding frames get -inf
    scores, i.e. zero weight. Output ``[B, 2C]``: weighted mean ++ weighted std.

    Args:
        channels: C, the channels of the pooled frames.
        attention_channels: bottleneck of the attention MLP (128 in the paper).
        global_context: append the utterance mean and std to every frame (the paper's default).
        eps: variance floor.
    """

    def __init__(
        self,
        channels: int,
        attention_channels: int = 128,
        global_context: bool = True,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.global_context = global_context
        self.eps = eps
        in_channels = channels * (3 if global_context else 1)
        self.attention_in = nn.Conv1d(in_channels, attention_channels, 1)
        self.attention_bn = nn.BatchNorm1d(attention_channels)
        self.attention_out = nn.Conv1d(attention_channels, channels, 1)

    def forward(self, x: Tensor, lens: Tensor) -> Tensor:
        num_frames = x.shape[-1]
        mask = lengths_to_mask(lens, num_frames).unsqueeze(1)  # [B, 1, T]
        x = x.masked_fill(~mask, 0.0)  # padding may hold anything; 0 * inf would be NaN below
        h = x
        if self.global_context:
            mean, std = masked_mean_std(x, mask, self.eps)
            context = torch.cat([mean, std], dim=1).unsqueeze(-1).expand(-1, -1, num_frames)
            h = torch.cat([x, context], dim=1)
        h = self.attention_bn(F.relu(self.attention_in(h))).masked_fill(~mask, 0.0)
        scores = self.attention_out(torch.tanh(h))  # [B, C, T]
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        mean = (weights * x).sum(dim=-1)
        var = (weights * (x - mean.unsqueeze(-1)).pow(2)).sum(dim=-1)
        return torch.cat([mean, var.clamp(min=self.eps).sqrt()], dim=-1)
