"""Permutation-invariant binary cross-entropy for end-to-end neural diarization (EEND).

Diarization outputs have no natural speaker order, so each utterance is scored under the
permutation of its label columns that fits the outputs best (Fujita et al. 2019).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.losses.pit import pit_from_pairwise
from audiokit.utils.masking import lengths_to_mask

# Convention (unlike pit.py, which reorders estimates): the *labels* are permuted, because an
# EDA model's output order carries meaning (attractor i exists only if attractors < i do).
# perm[b, i] is the label column matched with output i, so permute_labels(labels, perm)[b, :, i]
# lines up with logits[b, :, i].

EXHAUSTIVE_MAX_SPEAKERS = 4  # 24 permutations; beyond, the Hungarian algorithm


def pad_speakers(labels: Tensor, num_speakers: int) -> Tensor:
    """Append all-zero (never active) label columns up to ``num_speakers``.

    An EDA model may output more speaker columns than an utterance has speakers (a batch is
    padded to its largest count); silent extra columns are exactly what it should predict there.
    """
    extra = num_speakers - labels.shape[-1]
    if extra < 0:
        raise ValueError(f"labels have {labels.shape[-1]} speakers but the model only outputs "
                         f"{num_speakers}: raise the model's num_speakers or drop the extra "
                         "speakers from the labels")
    return F.pad(labels, (0, extra)) if extra else labels


def pairwise_bce(logits: Tensor, labels: Tensor, lens: Tensor) -> Tensor:
    """cost[b, i, j] = mean over valid frames of BCE(logits[b, :, i], labels[b, :, j]): [B, S, S].

    Built once by broadcasting ([B, T, S, S] elementwise terms), so a PIT search over any number
    of permutations costs S^2 BCE evaluations, not S * S!.
    """
    mask = lengths_to_mask(lens, logits.shape[1]).unsqueeze(-1)  # [B, T, 1]
    # Zero the padding *before* the BCE: a NaN/inf there would otherwise reach the gradient.
    x = logits.masked_fill(~mask, 0.0).unsqueeze(-1)  # [B, T, S, 1]: output i
    y = labels.to(logits.dtype).masked_fill(~mask, 0.0).unsqueeze(-2)  # [B, T, 1, S]: label j
    x, y = torch.broadcast_tensors(x, y)
    bce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    bce = bce.masked_fill(~mask.unsqueeze(-1), 0.0).sum(1)  # [B, S, S]
    return bce / lens.clamp(min=1).to(bce.dtype).view(-1, 1, 1)


def pit_bce(logits: Tensor, labels: Tensor, lens: Tensor,
            method: str = "auto") -> tuple[Tensor, Tensor]:
    """Mean PIT BCE over the batch and the best label permutation per utterance.

    ``logits`` [B, T, S] (pre-sigmoid speaker activities), ``labels`` [B, T, S'] with S' <= S
    (0/1 or soft; missing columns are padded as silent speakers, see :func:`pad_speakers`),
    ``lens`` [B] valid frames (frames ``t >= lens[b]`` are ignored, whatever they hold).
    Each utterance's loss is the mean BCE over its valid frames and all S speakers; the
    returned loss is the mean over the batch. ``method``: "exhaustive" (all S! permutations,
    vectorised), "hungarian" (scipy, per utterance) or "auto" (exhaustive for S <= 4).
    Returns ``(loss, perm)``, perm LongTensor [B, S] as in :func:`permute_labels`.
    """
    loss, perm = pit_bce_per_utt(logits, labels, lens, method)
    return loss.mean(), perm


def pit_bce_per_utt(logits: Tensor, labels: Tensor, lens: Tensor,
                    method: str = "auto") -> tuple[Tensor, Tensor]:
    """As :func:`pit_bce`, but the loss is per utterance: [B]."""
    if logits.dim() != 3 or labels.dim() != 3 or logits.shape[:2] != labels.shape[:2]:
        raise ValueError(f"pit_bce: logits {tuple(logits.shape)} and labels "
                         f"{tuple(labels.shape)} must both be [B, T, S] with the same B and T")
    num_speakers = logits.shape[-1]
    labels = pad_speakers(labels, num_speakers)
    if method == "auto":
        method = "exhaustive" if num_speakers <= EXHAUSTIVE_MAX_SPEAKERS else "hungarian"
    cost = pairwise_bce(logits, labels, lens)  # [B, output i, label j]
    # pit.py matches estimates (dim 1) to references (dim 2); treating the labels as the
    # "estimates" makes its perm[b, i] = the label column matched with output i.
    return pit_from_pairwise(cost.transpose(1, 2), method)


def permute_labels(labels: Tensor, perm: Tensor) -> Tensor:
    """labels [B, T, S] -> out[b, :, i] = labels[b, :, perm[b, i]] (aligned with the outputs).

    ``perm`` may be wider than ``labels`` (EDA padding): the labels are padded with silent
    speakers first, as in :func:`pit_bce`.
    """
    labels = pad_speakers(labels, perm.shape[-1])
    return labels.gather(2, perm.unsqueeze(1).expand(-1, labels.shape[1], -1))


def attractor_existence_loss(attractor_logits: Tensor, num_speakers: Tensor) -> Tensor:
    """EDA's attractor-existence BCE (Horiguchi et al. 2020).

    For an utterance with n speakers, the first n attractors should exist (target 1) and
    attractor n + 1 should not (target 0); later attractors are not scored. The loss is the
    mean over all scored attractors of the batch (longer counts weigh more, as in EDA).
    ``attractor_logits`` [B, A] with A > max(num_speakers); ``num_speakers`` [B] ints.
    """
    num_speakers = torch.as_tensor(num_speakers, device=attractor_logits.device).long()
    num_attractors = attractor_logits.shape[-1]
    if int(num_speakers.max()) >= num_attractors:
        raise ValueError(f"{num_attractors} attractors cannot score {int(num_speakers.max())} "
                         "speakers: EDA needs one attractor more than the speaker count")
    index = torch.arange(num_attractors, device=attractor_logits.device).unsqueeze(0)
    targets = (index < num_speakers.unsqueeze(1)).to(attractor_logits.dtype)
    scored = index <= num_speakers.unsqueeze(1)  # the n speakers and one "stop" attractor
    bce = F.binary_cross_entropy_with_logits(attractor_logits, targets, reduction="none")
    return bce[scored].mean()


def count_speakers(labels: Tensor, lens: Tensor) -> Tensor:
    """Speakers active in at least one valid frame, per utterance: [B] long.

    For EDA training the count must also be the number of label columns the model is asked
    for, so a data pipeline should drop silent speakers' columns from each chunk's labels.
    """
    mask = lengths_to_mask(lens, labels.shape[1]).unsqueeze(-1)
    return ((labels > 0.5) & mask).any(dim=1).sum(-1)


class PITBCELoss(nn.Module):
    """PIT BCE for diarization, with the EDA existence loss when attractor logits are given.

    ``forward(logits [B, T, S], labels [B, T, S'], lens [B], attractor_logits [B, A] | None,
    num_speakers [B] | None)`` returns ``(loss, perm)``: loss = PIT BCE (reduced by
    ``reduction``: "mean", "sum" or "none" -> [B]) + ``existence_weight`` * existence loss
    (a batch mean, added after the reduction). ``num_speakers`` defaults to the number of
    label columns with any activity in the valid frames of each utterance.
    """

    def __init__(self, reduction: str = "mean", existence_weight: float = 1.0,
                 method: str = "auto") -> None:
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"unknown reduction {reduction!r}; expected mean, sum or none")
        self.reduction, self.existence_weight, self.method = reduction, existence_weight, method

    def forward(self, logits: Tensor, labels: Tensor, lens: Tensor,
                attractor_logits: Tensor | None = None,
                num_speakers: Tensor | None = None) -> tuple[Tensor, Tensor]:
        loss, perm = pit_bce_per_utt(logits, labels, lens, self.method)
        if self.reduction == "mean":
            loss = loss.mean()
        elif self.reduction == "sum":
            loss = loss.sum()
        if attractor_logits is not None and self.existence_weight:
            if num_speakers is None:
                num_speakers = count_speakers(labels, lens)
            loss = loss + self.existence_weight * attractor_existence_loss(attractor_logits,
                                                                           num_speakers)
        return loss, perm

    def extra_repr(self) -> str:
        return (f"reduction={self.reduction}, existence_weight={self.existence_weight}, "
                f"method={self.method}")
