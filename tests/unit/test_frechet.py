"""Fréchet distance against closed forms and against scipy's general matrix square root."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import sqrtm

from audiokit.metrics.frechet import (
    frechet_distance,
    frechet_distance_embeddings,
    gaussian_stats,
)


def scipy_reference(mu1, s1, mu2, s2) -> float:
    covmean = sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


def random_psd(rng, dim: int) -> np.ndarray:
    a = rng.standard_normal((dim, dim))
    return a @ a.T / dim + 0.1 * np.eye(dim)


def test_one_dimension_closed_form():
    # N(m1, s1^2) vs N(m2, s2^2): (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0)


def test_diagonal_closed_form():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("dim", [2, 8, 32])
def test_full_covariances_match_scipy_sqrtm(dim):
    rng = np.random.default_rng(dim)
    mu1, mu2 = rng.standard_normal(dim), rng.standard_normal(dim)
    s1, s2 = random_psd(rng, dim), random_psd(rng, dim)
    got = frechet_distance(mu1, s1, mu2, s2)
    assert got == pytest.approx(scipy_reference(mu1, s1, mu2, s2), rel=1e-8)
    assert got == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-10)  # symmetric


def test_same_gaussian_is_zero_and_embeddings_use_sample_statistics():
    rng = np.random.default_rng(1)
    s = random_psd(rng, 5)
    assert frechet_distance(np.zeros(5), s, np.zeros(5), s) == pytest.approx(0.0, abs=1e-9)
    x, y = rng.standard_normal((200, 5)), rng.standard_normal((150, 5)) * 2 + 1
    mu_x, cov_x = gaussian_stats(x)
    assert np.allclose(cov_x, np.cov(x, rowvar=False)) and np.allclose(mu_x, x.mean(0))
    expected = scipy_reference(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert frechet_distance_embeddings(x, y) == pytest.approx(expected, rel=1e-8)


def test_fewer_clips_than_dimensions_stays_real_and_non_negative():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((10, 64)), rng.standard_normal((12, 64)) + 0.5
    d = frechet_distance_embeddings(x, y)
    assert np.isfinite(d) and d > 0
    assert frechet_distance_embeddings(x, x) == pytest.approx(0.0, abs=1e-4)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="shapes differ"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="N >= 2"):
        gaussian_stats(np.zeros((1, 4)))
