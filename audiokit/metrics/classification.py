"""Classification metrics: accuracy, macro-F1, per-class scores and the confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)


def confusion_counts(refs: torch.Tensor, preds: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``[C, C]`` counts, rows = reference class, columns = predicted class (torch, on device)."""
    flat = refs.long() * num_classes + preds.long()
    counts = torch.bincount(flat, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).to(torch.float32)


def macro_f1_from_confusion(confusion: torch.Tensor) -> torch.Tensor:
    """Unweighted mean of per-class F1; a class absent from both refs and preds scores 0,
    as scikit-learn's ``f1_score(average="macro", zero_division=0)`` over all labels."""
    tp = confusion.diag()
    denom = confusion.sum(0) + confusion.sum(1)  # (tp + fp) + (tp + fn)
    f1 = torch.where(denom > 0, 2 * tp / denom.clamp(min=1), torch.zeros_like(tp))
    return f1.mean()


def classification_report(refs: list[str], hyps: list[str], labels: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    precision, recall, f1, support = precision_recall_fscore_support(
        refs, hyps, labels=labels, zero_division=0
    )
    return {
        "num_utts": len(refs),
        "accuracy": float(accuracy_score(refs, hyps)),
        "macro_f1": float(f1_score(refs, hyps, labels=labels, average="macro", zero_division=0)),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=False)
        },
        "confusion": confusion_matrix(refs, hyps, labels=labels).tolist(),
    }


def plot_confusion(confusion: list[list[int]], labels: list[str], path: str | Path, title: str = "") -> None:
    """Save the confusion matrix as a PNG (rows: reference, columns: hypothesis)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on training machines
    import matplotlib.pyplot as plt

    cm = np.asarray(confusion)
    size = max(4.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90 if len(labels) > 12 else 0)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("hypothesis")
    ax.set_ylabel("reference")
    ax.set_title(title)
    if len(labels) <= 30:  # counts are unreadable beyond that
        for (i, j), n in np.ndenumerate(cm):
            ax.text(j, i, str(n), ha="center", va="center",
                    color="white" if n > cm.max() / 2 else "black", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
