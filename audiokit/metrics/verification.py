"""Speaker-verification metrics: EER, minDCF (NIST SRE / VoxSRC), DET curve and plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.stats import norm
from sklearn.metrics import roc_curve

# Convention everywhere in this module: a trial is accepted when ``score >= threshold``;
# labels are 1 (target, same speaker) / 0 (nontarget). Error rates are fractions in [0, 1].


def _check(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if scores.shape != labels.shape:
        raise ValueError(f"{scores.size} scores but {labels.size} labels")
    if not np.all(np.isfinite(scores)):
        bad = int(np.flatnonzero(~np.isfinite(scores))[0])
        raise ValueError(f"score {bad} is not finite ({scores[bad]})")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be 1 (target) or 0 (nontarget), got {np.unique(labels)}")
    labels = labels.astype(np.int64)
    n_tar = int(labels.sum())
    if n_tar == 0 or n_tar == labels.size:
        raise ValueError(
            f"need both target and nontarget trials, got {n_tar} target and "
            f"{labels.size - n_tar} nontarget"
        )
    return scores, labels


def det_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, fnr, thresholds)`` at every distinct threshold, strictest first.

    The first point has threshold ``+inf`` (accept nothing: fpr 0, fnr 1), the last the
    lowest score (accept everything: fpr 1, fnr 0). Unlike ``sklearn.metrics.det_curve``
    nothing is trimmed, so EER and minDCF can be read off the same points.
    """
    scores, labels = _check(scores, labels)
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    return fpr, 1.0 - tpr, thresholds


def eer(scores, labels) -> tuple[float, float]:
    """Equal error rate and its threshold.

    The ROC operating points from scikit-learn's ``roc_curve`` are joined by straight lines
    (the ROC convex-combination of two neighbouring thresholds); the EER is where that line
    crosses ``fpr == fnr``. Between the two thresholds ``t0 > t1`` that bracket the crossing,
    with ``d = fnr - fpr`` going from ``d0 > 0`` to ``d1 <= 0``, ``a = d0 / (d0 - d1)`` and
    ``eer = fpr0 + a (fpr1 - fpr0)`` (= ``fnr0 + a (fnr1 - fnr0)``); the threshold is
    interpolated the same way (``t1`` when ``t0`` is the ``+inf`` starting point). This is
    the value ``brentq(lambda x: 1 - x - interp1d(fpr, tpr)(x), 0, 1)`` gives, as used by
    many toolkits, computed in closed form.
    """
    fpr, fnr, thr = det_curve(scores, labels)
    d = fnr - fpr  # starts at 1 (threshold +inf), ends at -1 (lowest score): always crosses
    i = int(np.flatnonzero(d <= 0)[0])
    if d[i] == 0:
        return float(fpr[i]), float(thr[i])
    a = d[i - 1] / (d[i - 1] - d[i])
    rate = fpr[i - 1] + a * (fpr[i] - fpr[i - 1])
    if np.isinf(thr[i - 1]):
        return float(rate), float(thr[i])
    return float(rate), float(thr[i - 1] + a * (thr[i] - thr[i - 1]))


def min_dcf(
    scores, labels, p_target: float = 0.01, c_miss: float = 1.0, c_fa: float = 1.0
) -> tuple[float, float]:
    """Minimum normalised detection cost over all thresholds, and the threshold reaching it.

    ``DCF(t) = c_miss * p_target * P_miss(t) + c_fa * (1 - p_target) * P_fa(t)``, divided by
    the cost of the best trial-independent decision, ``min(c_miss * p_target,
    c_fa * (1 - p_target))`` (NIST SRE 2008+, VoxSRC). 1.0 means no better than always
    rejecting; the threshold ``+inf`` (reject everything) is among the candidates and is
    returned when nothing beats it.
    """
    if not 0 < p_target < 1:
        raise ValueError(f"p_target must be in (0, 1), got {p_target}")
    fpr, fnr, thr = det_curve(scores, labels)
    dcf = c_miss * p_target * fnr + c_fa * (1 - p_target) * fpr
    i = int(np.argmin(dcf))
    c_def = min(c_miss * p_target, c_fa * (1 - p_target))
    return float(dcf[i] / c_def), float(thr[i])


def verification_report(
    scores, labels, p_targets: tuple[float, ...] = (0.01, 0.05)
) -> dict:
    """EER and minDCF (c_miss = c_fa = 1) at each ``p_target``, with thresholds and counts.

    Keys: ``num_trials``, ``num_target``, ``num_nontarget``, ``eer`` (fraction),
    ``eer_threshold``, and for each p in ``p_targets`` ``min_dcf_{p}`` / ``min_dcf_{p}_threshold``
    (e.g. ``min_dcf_0.01``).
    """
    scores, labels = _check(scores, labels)
    rate, threshold = eer(scores, labels)
    report = {
        "num_trials": int(labels.size),
        "num_target": int(labels.sum()),
        "num_nontarget": int(labels.size - labels.sum()),
        "eer": rate,
        "eer_threshold": threshold,
    }
    for p in p_targets:
        cost, t = min_dcf(scores, labels, p_target=p)
        report[f"min_dcf_{p:g}"] = cost
        report[f"min_dcf_{p:g}_threshold"] = t
    return report


_DET_TICKS = [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99]


def plot_det(scores, labels, path: str | Path, title: str = "") -> None:
    """Save the DET curve as a PNG: miss vs false-alarm rate on normal-deviate (probit) axes,
    with the EER and the minDCF (p_target 0.01) operating points marked."""
    import matplotlib

    matplotlib.use("Agg")  # no display on training machines
    import matplotlib.pyplot as plt

    scores, labels = _check(scores, labels)
    fpr, fnr, _ = det_curve(scores, labels)
    n_tar, n_non = int(labels.sum()), int(labels.size - labels.sum())
    # 0 and 1 have no probit: clip to half a trial, the resolution of the trial list.
    lo = 0.5 / max(n_tar, n_non)
    probit = norm.ppf
    x = probit(np.clip(fpr, lo, 1 - lo))
    y = probit(np.clip(fnr, lo, 1 - lo))
    rate, _ = eer(scores, labels)
    fpr_d, fnr_d = _min_dcf_point(fpr, fnr, 0.01)
    dcf, _ = min_dcf(scores, labels, p_target=0.01)

    # Axis range: 0.1 % to 40 %, widened to show the EER and minDCF points, but never
    # finer than the trial list's resolution.
    bottom = max(lo, min([0.001] + [p for p in (fpr_d, fnr_d) if p > 0]))
    lo_tick = max((t for t in _DET_TICKS if t <= bottom), default=_DET_TICKS[0])
    top = max(0.4, 1.5 * rate, fnr_d, fpr_d)
    hi_tick = min((t for t in _DET_TICKS if t >= top), default=_DET_TICKS[-1])
    ticks = [t for t in _DET_TICKS if lo_tick <= t <= hi_tick]
    labels_txt = [f"{100 * t:g}" for t in ticks]

    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.plot(x, y, lw=1.5, label="DET")
    ax.plot(probit(np.clip(rate, lo, 1 - lo)), probit(np.clip(rate, lo, 1 - lo)), "o",
            label=f"EER {100 * rate:.2f}%")
    ax.plot(probit(np.clip(fpr_d, lo, 1 - lo)), probit(np.clip(fnr_d, lo, 1 - lo)), "s",
            label=f"minDCF(0.01) {dcf:.3f}")
    lim = (probit(lo_tick), probit(hi_tick))
    ax.plot(lim, lim, ":", color="grey", lw=0.8)
    ax.set_xticks(probit(ticks), labels_txt)
    ax.set_yticks(probit(ticks), labels_txt)
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_xlabel("false alarm rate (%)")
    ax.set_ylabel("miss rate (%)")
    ax.set_title(title)
    ax.grid(True, lw=0.5, alpha=0.5)
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _min_dcf_point(fpr: np.ndarray, fnr: np.ndarray, p_target: float) -> tuple[float, float]:
    i = int(np.argmin(p_target * fnr + (1 - p_target) * fpr))
    return float(fpr[i]), float(fnr[i])
