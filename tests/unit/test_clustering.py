"""Speaker clustering: planted clusters on the unit sphere are recovered exactly."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from audiokit.inference.clustering import (
    ahc_cluster,
    cluster,
    prune_affinity,
    renumber,
    spectral_cluster,
)


def planted(sizes, dim=32, spread=0.1, seed=0):
    """Unit-norm points around random unit centres; with spread 0.1 in 32-D, points of one
    cluster have cosine ~0.75 (distance ~0.25), of different clusters ~0 (distance ~1)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(sizes), dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = np.concatenate([c + spread * rng.standard_normal((n, dim))
                        for c, n in zip(centres, sizes, strict=True)])
    y = np.repeat(np.arange(len(sizes)), sizes)
    order = rng.permutation(len(y))  # interleave speakers, as turns are
    x = x[order] / np.linalg.norm(x[order], axis=1, keepdims=True)
    return x, y[order]


CASES = [([20, 12, 8], 0), ([15, 10, 10, 6], 1), ([30, 30, 30], 2), ([40, 5, 20, 10], 3)]


@pytest.mark.parametrize(("sizes", "seed"), CASES)
def test_ahc_recovers_planted_clusters(sizes, seed):
    x, y = planted(sizes, seed=seed)
    by_threshold = ahc_cluster(x, threshold=0.5)
    by_count = ahc_cluster(x, num_speakers=len(sizes))
    assert adjusted_rand_score(y, by_threshold) == 1.0
    assert adjusted_rand_score(y, by_count) == 1.0
    assert by_count.max() + 1 == len(sizes)


@pytest.mark.parametrize(("sizes", "seed"), CASES)
@pytest.mark.parametrize("kind", ["unnormalized", "normalized"])
def test_spectral_estimates_count_and_recovers_clusters(sizes, seed, kind):
    x, y = planted(sizes, seed=seed)
    labels = spectral_cluster(x, laplacian_kind=kind)
    assert labels.max() + 1 == len(sizes)
    assert adjusted_rand_score(y, labels) == 1.0


def test_spectral_oracle_count_fixed_pruning_and_bounds():
    x, y = planted([20, 12, 8], seed=4)
    assert adjusted_rand_score(y, spectral_cluster(x, num_speakers=3)) == 1.0
    assert adjusted_rand_score(y, spectral_cluster(x, pruning=0.15)) == 1.0
    # The count respects max_speakers / min_speakers even against the data.
    assert spectral_cluster(x, max_speakers=2).max() + 1 == 2
    assert 5 <= spectral_cluster(x, min_speakers=5).max() + 1 <= 8


def test_spectral_is_reproducible():
    x, _ = planted([15, 10, 10, 6], seed=5)
    np.testing.assert_array_equal(spectral_cluster(x), spectral_cluster(x))


def test_labels_in_order_of_first_appearance():
    assert renumber(np.array([5, 5, 2, 7, 2])).tolist() == [0, 0, 1, 2, 1]
    x, _ = planted([10, 10, 10], seed=6)
    for labels in (ahc_cluster(x, threshold=0.5), spectral_cluster(x)):
        firsts = [int(np.flatnonzero(labels == k)[0]) for k in range(labels.max() + 1)]
        assert firsts == sorted(firsts) and labels[0] == 0


def test_prune_affinity_keeps_top_p_and_is_symmetric():
    sim = np.array([[1.0, 0.9, 0.1, 0.2],
                    [0.9, 1.0, 0.3, 0.25],
                    [0.1, 0.3, 1.0, 0.8],
                    [0.2, 0.25, 0.8, 1.0]])
    a = prune_affinity(sim, 1)
    # Each row's nearest other point: 0<->1 and 2<->3 are mutual, so both get weight 1.
    np.testing.assert_array_equal(a, [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    a = prune_affinity(sim, 2)
    np.testing.assert_array_equal(a, a.T)
    assert a[0, 3] == 0.5  # 0 picks 3 as second neighbour, 3 picks 2 and 1: half weight
    assert a[0, 1] == 1.0 and a[0, 2] == 0.0 and a.diagonal().sum() == 0


def test_tiny_inputs():
    empty = np.zeros((0, 8))
    one = np.ones((1, 8))
    same = np.array([[1.0, 0.0], [0.9, 0.1]])
    apart = np.array([[1.0, 0.0], [0.0, 1.0]])
    for fn in (lambda x: ahc_cluster(x, threshold=0.5), spectral_cluster):
        assert fn(empty).tolist() == []
        assert fn(one).tolist() == [0]
        assert fn(same).tolist() == [0, 0]
        assert fn(apart).tolist() == [0, 1]
    # An oracle count at or above N: every segment its own speaker.
    assert ahc_cluster(same, num_speakers=2).tolist() == [0, 1]
    assert spectral_cluster(same, num_speakers=5).tolist() == [0, 1]
    assert ahc_cluster(apart, num_speakers=1).tolist() == [0, 0]
    assert spectral_cluster(apart, num_speakers=1).tolist() == [0, 0]
    # N = 2 without a count respects min_speakers.
    assert spectral_cluster(same, min_speakers=2).tolist() == [0, 1]
    # Three segments, two speakers: small enough for the fallback paths to be exercised.
    three = np.array([[1.0, 0.0], [0.99, 0.05], [0.0, 1.0]])
    assert spectral_cluster(three, num_speakers=2).tolist() == [0, 0, 1]
    assert spectral_cluster(three, min_speakers=3).tolist() == [0, 1, 2]
    # A zero embedding is dissimilar to everything instead of NaN.
    assert ahc_cluster(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.01]]),
                       threshold=0.5).tolist() == [0, 1, 1]


def test_cluster_dispatch_and_errors():
    x, y = planted([20, 12, 8], seed=7)
    assert adjusted_rand_score(y, cluster(x, "ahc", threshold=0.5)) == 1.0
    assert adjusted_rand_score(y, cluster(x, "spectral", num_speakers=3)) == 1.0
    with pytest.raises(ValueError, match="ahc, spectral"):
        cluster(x, "kmeans")
    with pytest.raises(ValueError, match="threshold"):
        ahc_cluster(x)
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        ahc_cluster(x[0], threshold=0.5)
    with pytest.raises(ValueError, match="NaN"):
        spectral_cluster(np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="min_speakers"):
        spectral_cluster(x, min_speakers=3, max_speakers=2)


def test_merge_small_clusters_reassigns_outliers_to_the_nearest_large_cluster():
    from audiokit.inference.clustering import merge_small_clusters

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 16))
    x = np.concatenate([centres[0] + 0.1 * rng.normal(size=(10, 16)),
                        centres[1] + 0.1 * rng.normal(size=(10, 16)),
                        centres[1] + 0.3 * rng.normal(size=(2, 16))])  # 2 stragglers of spk 1
    labels = np.array([0] * 10 + [1] * 10 + [2, 2])
    merged = merge_small_clusters(x, labels, min_size=3)
    assert merged.tolist() == [0] * 10 + [1] * 12
    # nothing large enough, or everything large: unchanged (renumbered)
    assert merge_small_clusters(x, labels, min_size=20).tolist() == labels.tolist()
    assert merge_small_clusters(x, labels, min_size=1).tolist() == labels.tolist()
