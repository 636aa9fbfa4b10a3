"""Speaker-classification heads used as embedding losses: softmax, AM-softmax, AAM-softmax.

Every head has ``logits(emb, labels=None)`` and ``forward(emb, labels) -> cross-entropy``. The
cosine heads L2-normalise embeddings and class weights, so ``cos = <e/|e|, w/|w|>``; with
``labels`` the margin is applied to the target class only, without them (scoring, accuracy)
the logits are just ``scale * cos``. ``margin`` is a plain settable attribute, so a schedule
(``audiokit.callbacks.margin_schedule.MarginSchedule``) can ramp it during training.

Sub-center heads (Deng et al. 2020) keep ``K`` weight vectors per class and use the largest
cosine among them, so noisy or multi-modal classes need not pull to a single center.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SoftmaxHead(nn.Module):
    """Plain linear classifier + cross-entropy on the raw embedding (no normalisation or margin)."""

    def __init__(self, embedding_dim: int, num_classes: int, bias: bool = True) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.num_classes = num_classes
        self.linear = nn.Linear(embedding_dim, num_classes, bias=bias)

    def logits(self, emb: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.linear(emb)

    def forward(self, emb: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(self.logits(emb, labels), labels)


class _CosineHead(nn.Module):
    """Shared parts: normalised weights, sub-center max, scale and cross-entropy."""

    def __init__(self, embedding_dim: int, num_classes: int, margin: float, scale: float,
                 sub_centers: int) -> None:
        super().__init__()
        if sub_centers < 1:
            raise ValueError(f"sub_centers must be >= 1, got {sub_centers}")
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.embedding_dim = embedding_dim
        self.num_classes = num_classes
        self.sub_centers = sub_centers
        self.scale = scale
        # Row k * num_classes + c is sub-center k of class c.
        self.weight = nn.Parameter(torch.empty(sub_centers * num_classes, embedding_dim))
        nn.init.xavier_normal_(self.weight)
        self.margin = margin

    def cosine(self, emb: Tensor) -> Tensor:
        """``[B, D]`` embeddings -> ``[B, num_classes]`` cosines (max over sub-centers)."""
        # float32 even under autocast: cos near +-1 and the margin arithmetic lose too much in bf16.
        with torch.autocast(device_type=emb.device.type, enabled=False):
            weight = F.normalize(self.weight.float(), dim=-1)
            cos = F.linear(F.normalize(emb.float(), dim=-1), weight)
        if self.sub_centers > 1:
            cos = cos.view(-1, self.sub_centers, self.num_classes).amax(dim=1)
        return cos.clamp(-1.0, 1.0)

    def target_logit(self, cos: Tensor) -> Tensor:
        """The target class's margin-penalised cosine, elementwise (before ``scale``)."""
        raise NotImplementedError

    def logits(self, emb: Tensor, labels: Tensor | None = None) -> Tensor:
        """``scale * cos`` for every class, the margin applied to ``labels``' class if given."""
        cos = self.cosine(emb)
        if labels is None:
            return self.scale * cos
        target = F.one_hot(labels, self.num_classes).bool()
        return self.scale * torch.where(target, self.target_logit(cos), cos)

    def forward(self, emb: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(self.logits(emb, labels), labels)

    def extra_repr(self) -> str:
        return (f"embedding_dim={self.embedding_dim}, num_classes={self.num_classes}, "
                f"margin={self.margin}, scale={self.scale}, sub_centers={self.sub_centers}")


class AMSoftmax(_CosineHead):
    """Additive margin softmax / CosFace (Wang et al. 2018): target logit ``s * (cos - m)``."""

    def __init__(self, embedding_dim: int, num_classes: int, margin: float = 0.2,
                 scale: float = 30.0, sub_centers: int = 1) -> None:
        super().__init__(embedding_dim, num_classes, margin, scale, sub_centers)

    def target_logit(self, cos: Tensor) -> Tensor:
        return cos - self.margin


class AAMSoftmax(_CosineHead):
    """Additive angular margin softmax / ArcFace (Deng et al. 2019): target ``s * cos(theta + m)``.

    ``cos(theta + m)`` stops decreasing once ``theta + m > pi``, where a larger angle would
    then be *rewarded*. Two standard fixes (both from the ArcFace reference code):

    * default (``easy_margin=False``): for ``theta > pi - m`` use the CosFace-like fallback
      ``cos(theta) - m * sin(m)`` instead, which keeps the target logit decreasing in theta
      (it is the first-order expansion of ``cos(theta + m)`` around ``theta = pi - m``, off
      by ``m * sin(m)`` at that point: 0.04 for m = 0.2). WeSpeaker and SpeechBrain do this.
    * ``easy_margin=True``: apply the margin only where ``cos > 0`` (``theta < pi / 2``) and
      use the plain cosine elsewhere.
    """

    def __init__(self, embedding_dim: int, num_classes: int, margin: float = 0.2,
                 scale: float = 30.0, sub_centers: int = 1, easy_margin: bool = False) -> None:
        self.easy_margin = easy_margin
        super().__init__(embedding_dim, num_classes, margin, scale, sub_centers)

    def target_logit(self, cos: Tensor) -> Tensor:
        m = self.margin
        # sin(theta) >= 0 on [0, pi]; the clamp keeps sqrt's gradient finite at |cos| = 1.
        sin = (1.0 - cos.pow(2)).clamp(min=1e-12).sqrt()
        phi = cos * math.cos(m) - sin * math.sin(m)  # cos(theta + m)
        if self.easy_margin:
            return torch.where(cos > 0, phi, cos)
        return torch.where(cos > math.cos(math.pi - m), phi, cos - m * math.sin(m))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", easy_margin={self.easy_margin}"
