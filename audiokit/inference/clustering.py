"""Speaker clustering for diarization: segment embeddings ``[N, D]`` -> labels ``[N]``.

Two back-ends, both on cosine similarity of the embeddings:

- :func:`ahc_cluster`: agglomerative clustering with average linkage (scikit-learn), cut at
  a cosine-distance threshold or at an oracle number of speakers.
- :func:`spectral_cluster`: spectral clustering with the row-wise p-pruning and normalised
  maximum eigengap (NME) auto-tuning of Park et al. 2019, "Auto-Tuning Spectral Clustering
  for Speaker Diarization Using Normalized Maximum Eigengap"; k-means from scikit-learn.

:func:`cluster` picks one by name (``method: ahc | spectral`` in configs). Labels are always
renumbered 0, 1, ... in order of first appearance, so equal clusterings give equal arrays.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import eigh
from sklearn.cluster import AgglomerativeClustering, KMeans

from audiokit.inference.scoring import l2_normalize

# Auto-tuned pruning tries p = NME_MIN_P .. NME_MAX_FRACTION * N neighbours per row, on at
# most NME_GRID_SIZE values of p (each costs one eigendecomposition of an N x N matrix).
# p starts at 3 because a graph of each segment's one or two nearest neighbours falls apart
# into fragments of one speaker, which the eigengap then counts as speakers (on planted
# clusters, p >= 3 got the count right in 102 of 120 draws, p >= 1 in 82). The price: a
# speaker with fewer than p + 1 segments gets linked to others and may be merged.
NME_MAX_FRACTION = 0.25
NME_GRID_SIZE = 20
NME_MIN_P = 3
LAPLACIANS = ("unnormalized", "normalized")
_EPS = 1e-10


def renumber(labels: np.ndarray) -> np.ndarray:
    """Labels mapped to 0, 1, ... in order of first appearance (``[5, 5, 2, 5] -> [0, 0, 1, 0]``)."""
    labels = np.asarray(labels)
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


def _check_embeddings(embeddings: np.ndarray) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be [N, D], got shape {x.shape}")
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        raise ValueError(f"embeddings hold NaN/inf in rows {bad[:10].tolist()}")
    return x


def cosine_similarity_matrix(embeddings: np.ndarray) -> np.ndarray:
    """``[N, N]`` cosine similarities; a zero embedding is similar to nothing (0), not NaN."""
    x = l2_normalize(_check_embeddings(embeddings))
    return np.clip(x @ x.T, -1.0, 1.0)


def ahc_cluster(
    embeddings: np.ndarray,
    threshold: float | None = None,
    num_speakers: int | None = None,
) -> np.ndarray:
    """Average-linkage agglomerative clustering on cosine distance (``1 - cos``, in [0, 2]).

    With ``num_speakers`` (oracle count) the tree is cut at exactly that many clusters (at
    most N: more speakers than segments puts each segment in its own cluster); it wins over
    ``threshold`` when both are given. Otherwise clusters keep merging while their average
    cosine distance is below ``threshold``. One of the two is required.
    """
    x = _check_embeddings(embeddings)
    n = len(x)
    if num_speakers is None and threshold is None:
        raise ValueError("ahc_cluster needs a threshold (cosine distance) or num_speakers")
    if num_speakers is not None and num_speakers < 1:
        raise ValueError(f"num_speakers must be >= 1, got {num_speakers}")
    if n <= 1:  # scikit-learn needs two samples; zero or one segment is trivially clustered
        return np.zeros(n, dtype=np.int64)
    distance = 1.0 - cosine_similarity_matrix(x)
    np.fill_diagonal(distance, 0.0)
    if num_speakers is not None:
        k = min(num_speakers, n)
        if k == n:  # each segment its own speaker; scikit-learn rejects n_clusters == N
            return np.arange(n, dtype=np.int64)
        model = AgglomerativeClustering(n_clusters=k, metric="precomputed", linkage="average")
    else:
        model = AgglomerativeClustering(n_clusters=None, distance_threshold=threshold,
                                        metric="precomputed", linkage="average")
    return renumber(model.fit_predict(distance))


# ------------------------------------------------------------------ spectral clustering
def prune_affinity(similarity: np.ndarray, p: int) -> np.ndarray:
    """Park et al.'s p-binarisation: per row, the ``p`` most similar *other* segments get 1,
    the rest 0; then ``(A + A^T) / 2`` to make the graph undirected.

    Binarising drops the scale of the cosine scores, which differs between embedders; only the
    neighbour ranking matters. The diagonal is left out so that p counts real neighbours (a
    self-loop would not change the unnormalised Laplacian anyway).
    """
    n = len(similarity)
    s = similarity.copy()
    np.fill_diagonal(s, -np.inf)
    top = np.argpartition(-s, kth=min(p, n - 1) - 1, axis=1)[:, :p]
    a = np.zeros_like(similarity)
    np.put_along_axis(a, top, 1.0, axis=1)
    np.fill_diagonal(a, 0.0)
    return 0.5 * (a + a.T)


def laplacian(affinity: np.ndarray, kind: str = "unnormalized") -> np.ndarray:
    """``L = D - A`` ("unnormalized") or ``I - D^-1/2 A D^-1/2`` ("normalized")."""
    degree = affinity.sum(axis=1)
    if kind == "unnormalized":
        return np.diag(degree) - affinity
    if kind == "normalized":
        d = 1.0 / np.sqrt(np.maximum(degree, _EPS))
        return np.eye(len(affinity)) - d[:, None] * affinity * d[None, :]
    raise ValueError(f"unknown Laplacian {kind!r}; valid: {', '.join(LAPLACIANS)}")


def _count_range(n: int, min_speakers: int, max_speakers: int) -> range:
    """Counts k the eigengap may choose: the gap after k needs eigenvalue k + 1, so k <= N - 1."""
    return range(min_speakers, min(max_speakers, n - 1) + 1)


def _eigengap(eigvals: np.ndarray, counts: range, num_speakers: int | None) -> tuple[int, float]:
    """(speaker count, normalised eigengap): the largest gap ``λ_{k+1} - λ_k`` over the counts
    (or at the given count), divided by the largest eigenvalue as in NME."""
    gaps = {k: eigvals[k] - eigvals[k - 1] for k in counts}  # eigvals ascending, 0-based
    k = num_speakers if num_speakers in gaps else max(gaps, key=gaps.__getitem__)
    return k, gaps[k] / (eigvals[-1] + _EPS)


def spectral_cluster(
    embeddings: np.ndarray,
    num_speakers: int | None = None,
    min_speakers: int = 1,
    max_speakers: int = 8,
    pruning: float | None = None,
    laplacian_kind: str = "unnormalized",
    fallback_threshold: float = 0.5,
    random_state: int = 0,
) -> np.ndarray:
    """Spectral clustering of cosine affinities (Park et al. 2019), k-means on eigenvectors.

    Args:
        embeddings: ``[N, D]`` segment embeddings.
        num_speakers: oracle speaker count; None estimates it by the largest eigengap with
            ``min_speakers <= k <= max_speakers``.
        pruning: fraction of each row's neighbours kept (p = round(pruning * N), at least 1).
            None auto-tunes p by NME: of p = 3 .. 0.25 N, the one with the smallest
            ``p / normalised max eigengap`` (a clear gap with few neighbours).
        laplacian_kind: "unnormalized" (``D - A``, as in the paper) or "normalized"
            (symmetric; eigenvector rows are then unit-normalised as in Ng, Jordan & Weiss).
        fallback_threshold: cosine distance used when N is too small for an eigengap.
        random_state: k-means seed, so a run is reproducible.

    Tiny inputs: N = 0 or 1 gives ``[]`` or ``[0]``. With an oracle count k >= N every segment
    is its own speaker (``0 .. N-1``). Without a count and N <= 2 an eigengap cannot compare two
    counts, so :func:`ahc_cluster` at ``fallback_threshold`` decides (clipped to the
    min/max speakers). When ``min_speakers > N - 1`` no gap can be measured either: each
    segment gets its own speaker.

    The eigengap is weakest at telling one speaker from several on short recordings; when the
    count is known to lie in a range, pass ``min_speakers`` / ``max_speakers``.
    """
    x = _check_embeddings(embeddings)
    n = len(x)
    if min_speakers < 1 or max_speakers < min_speakers:
        raise ValueError(f"need 1 <= min_speakers <= max_speakers, got {min_speakers}, "
                         f"{max_speakers}")
    if num_speakers is not None and num_speakers < 1:
        raise ValueError(f"num_speakers must be >= 1, got {num_speakers}")
    if laplacian_kind not in LAPLACIANS:
        raise ValueError(f"unknown Laplacian {laplacian_kind!r}; valid: {', '.join(LAPLACIANS)}")
    if pruning is not None and not 0.0 < pruning <= 1.0:
        raise ValueError(f"pruning must be a fraction in (0, 1], got {pruning}")
    if n <= 1:
        return np.zeros(n, dtype=np.int64)
    if num_speakers is not None and num_speakers >= n:
        return np.arange(n, dtype=np.int64)
    counts = _count_range(n, min_speakers, max_speakers)
    if num_speakers is None and n <= 2:
        labels = ahc_cluster(x, threshold=fallback_threshold)
        k = int(np.clip(labels.max() + 1, min_speakers, min(max_speakers, n)))
        return labels if k == labels.max() + 1 else ahc_cluster(x, num_speakers=k)
    if num_speakers is None and not counts:
        return np.arange(n, dtype=np.int64)
    if num_speakers is not None:
        counts = range(num_speakers, num_speakers + 1)

    similarity = cosine_similarity_matrix(x)
    if pruning is not None:
        candidates = [min(max(1, round(pruning * n)), n - 1)]
    else:
        # At p >= N/2 every segment links to half the others: no split is left to find.
        p_min = min(NME_MIN_P, max(1, n // 2))
        p_max = max(p_min, int(NME_MAX_FRACTION * n))
        candidates = np.unique(np.linspace(p_min, p_max, NME_GRID_SIZE).round()).astype(int)
    best = None
    for p in candidates:
        # Eigenvalues only while searching (several times cheaper); vectors for the winner.
        lap = laplacian(prune_affinity(similarity, int(p)), laplacian_kind)
        k, gap = _eigengap(eigh(lap, eigvals_only=True), counts, num_speakers)
        ratio = p / max(gap, _EPS)
        if best is None or ratio < best[0]:
            best = (ratio, k, lap)
    _, k, lap = best
    spectrum = eigh(lap, subset_by_index=[0, k - 1])[1]  # the k smallest eigenvectors
    if laplacian_kind == "normalized":
        spectrum = l2_normalize(spectrum)
    kmeans = KMeans(n_clusters=k, n_init=10, random_state=random_state)
    return renumber(kmeans.fit_predict(spectrum))


CLUSTERERS = {"ahc": ahc_cluster, "spectral": spectral_cluster}


def cluster(
    embeddings: np.ndarray, method: str = "spectral", num_speakers: int | None = None,
    **options,
) -> np.ndarray:
    """``cluster(emb, "ahc", threshold=0.6)`` or ``cluster(emb, "spectral", num_speakers=2)``:
    the named back-end with its own keyword options."""
    if method not in CLUSTERERS:
        raise ValueError(f"unknown clustering method {method!r}; valid: {', '.join(CLUSTERERS)}")
    return CLUSTERERS[method](embeddings, num_speakers=num_speakers, **options)


def merge_small_clusters(embeddings: np.ndarray, labels: np.ndarray,
                         min_size: int) -> np.ndarray:
    """Members of clusters with fewer than ``min_size`` segments join the most similar (cosine
    to the centroid) cluster of at least that size. Windows that straddle two speakers, or hold
    a cough, tend to form such tiny clusters, which would each count as a speaker. When no
    cluster is large enough, the labels are returned as they are."""
    labels = np.asarray(labels)
    ids, sizes = np.unique(labels, return_counts=True)
    large = ids[sizes >= min_size]
    if len(large) == 0 or len(large) == len(ids):
        return renumber(labels)
    x = l2_normalize(_check_embeddings(embeddings))
    centroids = l2_normalize(np.stack([x[labels == c].mean(0) for c in large]))
    small = ~np.isin(labels, large)
    out = labels.copy()
    out[small] = large[np.argmax(x[small] @ centroids.T, axis=1)]
    return renumber(out)
