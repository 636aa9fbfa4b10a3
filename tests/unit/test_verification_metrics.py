"""EER / minDCF against scikit-learn's ROC, brute force and hand-made cases; the DET plot."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from sklearn.metrics import roc_curve

from audiokit.metrics.verification import (
    det_curve,
    eer,
    min_dcf,
    plot_det,
    verification_report,
)


def gaussian_trials(n_tar: int, n_non: int, shift: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(shift, 1.0, n_tar), rng.normal(0.0, 1.0, n_non)])
    labels = np.concatenate([np.ones(n_tar, int), np.zeros(n_non, int)])
    return scores, labels


def sklearn_eer(scores, labels) -> float:
    """The common reference: interpolate the ROC and solve 1 - tpr(x) = x."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0)


def brute_min_dcf(scores, labels, p_target, c_miss=1.0, c_fa=1.0) -> float:
    tar, non = scores[labels == 1], scores[labels == 0]
    best = np.inf
    for t in np.concatenate([np.unique(scores), [np.inf]]):
        p_miss = np.mean(tar < t)
        p_fa = np.mean(non >= t)
        best = min(best, c_miss * p_target * p_miss + c_fa * (1 - p_target) * p_fa)
    return best / min(c_miss * p_target, c_fa * (1 - p_target))


@pytest.mark.parametrize("n_tar,n_non,shift,seed", [(500, 5000, 2.0, 0), (300, 300, 1.0, 1),
                                                    (50, 2000, 3.0, 2)])
def test_eer_matches_sklearn_roc_reference(n_tar, n_non, shift, seed):
    scores, labels = gaussian_trials(n_tar, n_non, shift, seed)
    rate, threshold = eer(scores, labels)
    assert rate == pytest.approx(sklearn_eer(scores, labels), abs=1e-9)
    # The threshold sits where the empirical miss and false-alarm rates meet.
    p_miss = np.mean(scores[labels == 1] < threshold)
    p_fa = np.mean(scores[labels == 0] >= threshold)
    assert abs(p_miss - rate) <= 1.0 / n_tar + 1e-9
    assert abs(p_fa - rate) <= 1.0 / n_non + 1e-9


def test_eer_gaussian_matches_theory():
    # Equal-variance Gaussians d apart: EER = Phi(-d/2).
    from scipy.stats import norm

    scores, labels = gaussian_trials(20000, 20000, 2.0, seed=3)
    assert eer(scores, labels)[0] == pytest.approx(norm.cdf(-1.0), abs=0.006)


def test_eer_hand_made_cases():
    # Exactly at an operating point: accepting >= 0.7 misses 1/3 targets, admits 1/3 impostors.
    rate, thr = eer([0.9, 0.8, 0.3, 0.7, 0.2, 0.1], [1, 1, 1, 0, 0, 0])
    assert rate == pytest.approx(1 / 3) and thr == pytest.approx(0.7)
    # Tie of a target and a nontarget at 0.5: (fpr, fnr) goes (0, .5) -> (.5, 0); the line
    # between crosses the diagonal at .25, halfway between thresholds 0.9 and 0.5.
    rate, thr = eer([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])
    assert rate == pytest.approx(0.25) and thr == pytest.approx(0.7)


def test_eer_extremes():
    scores, labels = gaussian_trials(200, 800, 10.0, seed=4)
    assert scores[labels == 1].min() > scores[labels == 0].max()
    assert eer(scores, labels)[0] == 0.0
    assert min_dcf(scores, labels)[0] == 0.0
    rng = np.random.default_rng(5)
    random = rng.normal(size=20000)
    assert eer(random, rng.integers(0, 2, 20000))[0] == pytest.approx(0.5, abs=0.02)
    # Reversed scores: everything wrong.
    assert eer(-scores, labels)[0] == 1.0


@pytest.mark.parametrize("p_target,c_miss,c_fa", [(0.01, 1, 1), (0.05, 1, 1), (0.001, 10, 1),
                                                  (0.5, 1, 2)])
def test_min_dcf_matches_brute_force(p_target, c_miss, c_fa):
    scores, labels = gaussian_trials(400, 3000, 2.0, seed=6)
    scores = np.round(scores, 1)  # many ties: thresholds must treat them as one
    cost, thr = min_dcf(scores, labels, p_target, c_miss, c_fa)
    assert cost == pytest.approx(brute_min_dcf(scores, labels, p_target, c_miss, c_fa), abs=1e-12)
    # The returned threshold achieves the minimum.
    p_miss = np.mean(scores[labels == 1] < thr)
    p_fa = np.mean(scores[labels == 0] >= thr)
    c_def = min(c_miss * p_target, c_fa * (1 - p_target))
    assert (c_miss * p_target * p_miss + c_fa * (1 - p_target) * p_fa) / c_def == pytest.approx(cost)


def test_min_dcf_is_at_most_one():
    # Useless scores: the best threshold is "reject all", cost exactly 1.
    rng = np.random.default_rng(7)
    cost, thr = min_dcf(rng.normal(size=2000), rng.integers(0, 2, 2000), p_target=0.01)
    assert cost <= 1.0 and cost == pytest.approx(1.0, abs=0.05)


def test_det_curve_endpoints_and_monotone():
    scores, labels = gaussian_trials(100, 400, 1.5, seed=8)
    fpr, fnr, thr = det_curve(scores, labels)
    assert (fpr[0], fnr[0], fpr[-1], fnr[-1]) == (0.0, 1.0, 1.0, 0.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(fnr) <= 0)
    assert np.isinf(thr[0]) and np.all(np.diff(thr) < 0)


def test_report_keys_and_counts():
    scores, labels = gaussian_trials(100, 900, 2.0, seed=9)
    rep = verification_report(scores, labels)
    assert (rep["num_trials"], rep["num_target"], rep["num_nontarget"]) == (1000, 100, 900)
    assert rep["eer"] == eer(scores, labels)[0]
    assert rep["min_dcf_0.01"] == min_dcf(scores, labels, 0.01)[0]
    assert rep["min_dcf_0.05"] == min_dcf(scores, labels, 0.05)[0]
    assert {"eer_threshold", "min_dcf_0.01_threshold", "min_dcf_0.05_threshold"} <= set(rep)


def test_input_errors():
    with pytest.raises(ValueError, match="both target and nontarget"):
        eer([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="labels must be"):
        eer([0.1, 0.2], [1, 2])
    with pytest.raises(ValueError, match="not finite"):
        eer([0.1, np.nan], [1, 0])
    with pytest.raises(ValueError, match="3 scores but 2 labels"):
        eer([0.1, 0.2, 0.3], [1, 0])
    with pytest.raises(ValueError, match="p_target"):
        min_dcf([0.1, 0.2], [1, 0], p_target=1.5)


@pytest.mark.parametrize("shift", [2.0, 0.0])
def test_plot_det_writes_png(tmp_path, shift):
    scores, labels = gaussian_trials(200, 2000, shift, seed=10)
    path = tmp_path / "det.png"
    plot_det(scores, labels, path, title="test system")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
