"""ESPnet's label-smoothing loss: KL(q || p) with q = 1 - eps on the target, eps / (V - 1) on
every other class.

PyTorch's ``cross_entropy(label_smoothing=eps)`` is the cross-entropy against a different q:
``(1 - eps) * onehot + eps / V`` (the target gets ``1 - eps + eps / V``). The two differ in the
gradient (``p - q`` for either, with a different q) and, by q's entropy, in the logged value:
the KL form is 0 at ``p == q`` where the cross-entropy is ``H(q)``. Use this form to set loss
curves beside ESPnet's (espnet/nets/pytorch_backend/transformer/label_smoothing_loss.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def label_smoothing_kl(logits: Tensor, targets: Tensor, smoothing: float = 0.1, *,
                       ignore_index: int = -1, normalize_length: bool = False) -> Tensor:
    """``sum over tokens of KL(q || softmax(logits))`` / (batch size, or tokens when
    ``normalize_length``), as ESPnet's ``LabelSmoothingLoss``.

    ``logits`` [B, ..., V], ``targets`` [B, ...] with ``ignore_index`` for padding.
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    vocab = logits.size(-1)
    if vocab < 2:
        raise ValueError(f"label smoothing needs at least 2 classes, got {vocab}")
    batch = logits.size(0)
    logp = logits.reshape(-1, vocab).float().log_softmax(-1)
    flat = targets.reshape(-1)
    keep = flat != ignore_index
    with torch.no_grad():
        q = torch.full_like(logp, smoothing / (vocab - 1))
        q.scatter_(1, flat.masked_fill(~keep, 0).unsqueeze(1), 1.0 - smoothing)
    # kl_div uses xlogy, so q = 0 (smoothing = 0) contributes 0, not nan
    kl = F.kl_div(logp, q, reduction="none").sum(-1)
    total = kl.masked_fill(~keep, 0.0).sum()
    denom = keep.sum().clamp(min=1) if normalize_length else batch
    return total / denom


class LabelSmoothingKL(nn.Module):
    """Module form of :func:`label_smoothing_kl` (``loss(logits, targets)``)."""

    def __init__(self, smoothing: float = 0.1, ignore_index: int = -1,
                 normalize_length: bool = False) -> None:
        super().__init__()
        self.smoothing, self.ignore_index = smoothing, ignore_index
        self.normalize_length = normalize_length

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return label_smoothing_kl(logits, targets, self.smoothing,
                                  ignore_index=self.ignore_index,
                                  normalize_length=self.normalize_length)
