"""Self-supervised features for any task: a pretrained encoder's chosen layer, or a learned
softmax-weighted sum of all its layers (SUPERB, Yang et al. 2021)."""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn

from audiokit.frontends.framing import zero_padding

log = logging.getLogger(__name__)


class SSLFeatures(nn.Module):
    """wav [B, T] + lens -> features [B, T', D] + lens (padding zeroed).

    Args:
        upstream: a module with ``hidden_states(wav, lens) -> ([h_0 .. h_L], lens')``,
            ``num_hidden`` and ``output_dim`` (:mod:`audiokit.models.ssl.upstream`).
        layer: ``"weighted"`` (softmax-weighted sum of all L + 1 hidden states, the weights
            learned with the task, starting equal) or an index into them (0 = the
            transformer's input, -1 = the last layer).
        freeze: keep the upstream fixed (no gradients, eval mode, run without autograd);
            false fine-tunes it with the task.
        layer_norm: normalise each hidden state (no affine) before the sum, as SUPERB's
            featurizer can, so layers of different scales weigh alike.
    """

    def __init__(self, upstream: nn.Module, layer: int | str = "weighted", freeze: bool = True,
                 layer_norm: bool = False) -> None:
        super().__init__()
        self.upstream = upstream
        self.num_hidden = int(upstream.num_hidden)
        self.output_dim = int(upstream.output_dim)
        if layer == "weighted":
            self.layer = None
            self.layer_weights = nn.Parameter(torch.zeros(self.num_hidden))
        elif isinstance(layer, int) and not isinstance(layer, bool) and \
                -self.num_hidden <= layer < self.num_hidden:
            self.layer = layer % self.num_hidden
        else:
            raise ValueError(f"layer must be 'weighted' or an index into the {self.num_hidden} "
                             f"hidden states (0 = input, -1 = last), got {layer!r}")
        self.layer_norm = layer_norm
        self.freeze = freeze
        if freeze:
            self.upstream.requires_grad_(False)
            self.upstream.eval()

    def train(self, mode: bool = True) -> SSLFeatures:
        super().train(mode)
        if self.freeze:  # a frozen upstream stays in eval mode (no dropout)
            self.upstream.eval()
        return self

    def weights(self) -> Tensor:
        """The layer weights (softmax), or one-hot at the chosen layer."""
        if self.layer is None:
            return self.layer_weights.softmax(0)
        return nn.functional.one_hot(torch.tensor(self.layer), self.num_hidden).float()

    def forward(self, wav: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            hidden, out_lens = self.upstream.hidden_states(wav, lens)
        if len(hidden) != self.num_hidden:
            raise RuntimeError(f"upstream gave {len(hidden)} hidden states, expected {self.num_hidden}")
        if self.layer is not None:
            return zero_padding(hidden[self.layer], out_lens), out_lens
        stacked = torch.stack(hidden)  # [L + 1, B, T', D]
        if self.layer_norm:
            stacked = nn.functional.layer_norm(stacked, stacked.shape[-1:])
        weights = self.layer_weights.softmax(0).to(stacked.dtype)
        out = (weights.view(-1, 1, 1, 1) * stacked).sum(0)
        return zero_padding(out, out_lens), out_lens
