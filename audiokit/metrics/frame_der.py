"""Frame-level diarization error counts (as EEND reports them during training).

Per frame with ``n_ref`` reference and ``n_sys`` system speakers of which ``n_correct`` agree
(after the speaker permutation is solved): missed = max(n_ref - n_sys, 0), false alarm =
max(n_sys - n_ref, 0), confusion = min(n_ref, n_sys) - n_correct. DER = (missed + false alarm +
confusion) / sum(n_ref). No collar and frame resolution: a quick training monitor; the RTTM
scorer (:mod:`audiokit.metrics.diarization`) gives the figures to report.
"""

from __future__ import annotations

import torch


def frame_error_counts(active: torch.Tensor, labels: torch.Tensor, lens: torch.Tensor,
                       ) -> dict[str, torch.Tensor]:
    """Summed counts over a batch: ``active`` and ``labels`` are [B, T, S] in {0, 1}, already in
    the same speaker order; frames at or beyond ``lens`` are ignored."""
    valid = (torch.arange(labels.shape[1], device=lens.device)[None] < lens[:, None]).float()
    active, labels = active.float(), labels.float()
    n_ref, n_sys = labels.sum(-1), active.sum(-1)
    n_correct = (active * labels).sum(-1)
    counts = {
        "speech": n_ref,
        "missed": (n_ref - n_sys).clamp(min=0),
        "false_alarm": (n_sys - n_ref).clamp(min=0),
        "confusion": torch.minimum(n_ref, n_sys) - n_correct,
    }
    return {k: (v * valid).sum() for k, v in counts.items()}


def frame_der(counts: dict[str, torch.Tensor]) -> torch.Tensor:
    errors = counts["missed"] + counts["false_alarm"] + counts["confusion"]
    return errors / counts["speech"].clamp(min=1.0)
