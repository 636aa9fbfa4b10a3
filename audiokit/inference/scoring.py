"""Speaker-verification back-ends: cosine scoring, adaptive score normalisation, PLDA."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
from scipy.linalg import eigh

from audiokit.inference.trials import stack_embeddings

_EPS = 1e-10


def l2_normalize(x: np.ndarray, mean: np.ndarray | None = None) -> np.ndarray:
    """Rows of ``x`` (minus ``mean`` if given) scaled to unit length; zero rows stay zero."""
    x = np.asarray(x, dtype=np.float64)
    if mean is not None:
        x = x - np.asarray(mean, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), _EPS)


def _pair_matrices(
    embeddings: dict[str, np.ndarray], trials: Sequence[Sequence[str]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Each utterance once: ``(matrix [U, D], enroll index [T], test index [T], utts)``."""
    index: dict[str, int] = {}
    for t in trials:
        for u in (t[0], t[1]):
            index.setdefault(u, len(index))
    utts = list(index)
    mat = stack_embeddings(embeddings, utts)
    e = np.array([index[t[0]] for t in trials], dtype=np.int64)
    s = np.array([index[t[1]] for t in trials], dtype=np.int64)
    return mat, e, s, utts


def cosine_scores(
    embeddings: dict[str, np.ndarray],
    trials: Sequence[Sequence[str]],
    mean: np.ndarray | None = None,
) -> np.ndarray:
    """``[T]`` cosine similarity of each trial's (enroll, test) embeddings.

    ``trials`` holds :class:`~audiokit.inference.trials.Trial` or ``(enroll, test)`` pairs.
    ``mean`` (e.g. the training-set mean embedding) is subtracted before normalising, which
    removes the offset all embeddings share and usually lowers the EER.
    """
    mat, e, s, _ = _pair_matrices(embeddings, trials)
    mat = l2_normalize(mat, mean)
    return np.einsum("td,td->t", mat[e], mat[s])


# ------------------------------------------------------------------ AS-norm
def cohort_stats(
    emb: np.ndarray,
    cohort: np.ndarray,
    top_n: int,
    mean: np.ndarray | None = None,
    chunk: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) std of each row's ``top_n`` highest cosine scores against the
    cohort: ``([M], [M])``. Rows go in chunks so the ``[M, C]`` score matrix never is whole."""
    emb = l2_normalize(np.atleast_2d(emb), mean)
    cohort = l2_normalize(np.atleast_2d(cohort), mean)
    mu = np.empty(len(emb))
    sd = np.empty(len(emb))
    for start in range(0, len(emb), chunk):
        mu[start:start + chunk], sd[start:start + chunk] = _top_n_stats(
            emb[start:start + chunk] @ cohort.T, top_n
        )
    return mu, sd


def _top_n_stats(cohort_scores: np.ndarray, top_n: int) -> tuple[np.ndarray, np.ndarray]:
    n_cohort = cohort_scores.shape[1]
    top_n = min(top_n, n_cohort)  # a cohort smaller than top_n: use all of it
    if top_n < 2:
        raise ValueError(f"AS-norm needs top_n >= 2 and a cohort of 2 or more, got {top_n}")
    # np.partition puts the top_n largest in the last top_n columns (unordered): O(C), no sort.
    top = np.partition(cohort_scores, n_cohort - top_n, axis=1)[:, n_cohort - top_n:]
    return top.mean(axis=1), np.maximum(top.std(axis=1), _EPS)


def as_norm_from_stats(
    scores: np.ndarray, mu_e: np.ndarray, sd_e: np.ndarray, mu_t: np.ndarray, sd_t: np.ndarray
) -> np.ndarray:
    """``0.5 * ((s - mu_e) / sd_e + (s - mu_t) / sd_t)``, elementwise."""
    s = np.asarray(scores, dtype=np.float64)
    return 0.5 * ((s - mu_e) / sd_e + (s - mu_t) / sd_t)


def as_norm_from_cohort_scores(
    scores: np.ndarray, enroll_cohort: np.ndarray, test_cohort: np.ndarray, top_n: int = 300
) -> np.ndarray:
    """AS-norm from precomputed ``[T, C]`` cohort score matrices (any scoring function)."""
    mu_e, sd_e = _top_n_stats(np.asarray(enroll_cohort, dtype=np.float64), top_n)
    mu_t, sd_t = _top_n_stats(np.asarray(test_cohort, dtype=np.float64), top_n)
    return as_norm_from_stats(scores, mu_e, sd_e, mu_t, sd_t)


def as_norm(
    scores: np.ndarray,
    enroll_emb: np.ndarray,
    test_emb: np.ndarray,
    cohort_emb: np.ndarray,
    top_n: int = 300,
    mean: np.ndarray | None = None,
) -> np.ndarray:
    """Adaptive symmetric score normalisation, AS-norm1 (Matejka et al., Interspeech 2017).

    For trial ``t`` with raw score ``s`` (``[T]``), enrollment embedding ``enroll_emb[t]`` and
    test embedding ``test_emb[t]`` (``[T, D]`` each): score each side against every cohort
    embedding (cosine, ``[C, D]`` cohort, e.g. training-speaker means), keep that side's
    ``top_n`` highest cohort scores, and take their mean ``mu`` and population std ``sd``;
    then ``s_norm = 0.5 * ((s - mu_e) / sd_e + (s - mu_t) / sd_t)``. Choosing the closest
    cohort models per side adapts the normalisation to each speaker's neighbourhood.
    ``top_n`` larger than the cohort uses all of it.
    """
    mu_e, sd_e = cohort_stats(enroll_emb, cohort_emb, top_n, mean)
    mu_t, sd_t = cohort_stats(test_emb, cohort_emb, top_n, mean)
    return as_norm_from_stats(scores, mu_e, sd_e, mu_t, sd_t)


def as_norm_trials(
    scores: np.ndarray,
    embeddings: dict[str, np.ndarray],
    trials: Sequence[Sequence[str]],
    cohort_emb: np.ndarray,
    top_n: int = 300,
    mean: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`as_norm` for a trial list, with cohort statistics computed once per utterance."""
    mat, e, s, _ = _pair_matrices(embeddings, trials)
    mu, sd = cohort_stats(mat, cohort_emb, top_n, mean)
    return as_norm_from_stats(scores, mu[e], sd[e], mu[s], sd[s])


def speaker_cohort(
    embeddings: dict[str, np.ndarray], utt2spk: dict[str, str], mean: np.ndarray | None = None
) -> np.ndarray:
    """``[S, D]`` cohort: the mean of each speaker's L2-normalised embeddings (sorted speakers)."""
    utts = [u for u in utt2spk if u in embeddings]
    if not utts:
        raise ValueError("no utterance of utt2spk has an embedding")
    x = l2_normalize(stack_embeddings(embeddings, utts), mean)
    spk, inv = np.unique([utt2spk[u] for u in utts], return_inverse=True)
    sums = np.zeros((len(spk), x.shape[1]))
    np.add.at(sums, inv, x)
    return sums / np.bincount(inv)[:, None]


# ------------------------------------------------------------------ PLDA
class PLDA:
    """Two-covariance PLDA (Ioffe 2006; the model of Kaldi's ``ivector-compute-plda``).

    After optional preprocessing (centering, LDA to ``lda_dim``, length normalisation to
    norm ``sqrt(dim)``), an embedding is ``x = mu + y + e`` with speaker variable
    ``y ~ N(0, B)`` shared by the speaker's utterances and ``e ~ N(0, W)`` per utterance.
    ``fit`` starts from moment estimates of ``B`` and ``W`` and refines them by EM (the
    maximum-likelihood solution, Sizov et al. 2014). Scoring diagonalises both covariances
    (``V' W V = I``, ``V' B V = diag(psi)``) so the same/different-speaker log-likelihood
    ratio of a pair is a sum of per-dimension closed forms. For real embeddings the usual
    recipe is ``lda_dim`` of 100-200 and ``length_norm=True``.
    """

    def __init__(self, lda_dim: int | None = None, length_norm: bool = False, n_iter: int = 10):
        self.lda_dim = lda_dim
        self.length_norm = length_norm
        self.n_iter = n_iter
        self.center: np.ndarray | None = None  # preprocessing mean
        self.lda: np.ndarray | None = None  # [D, lda_dim]
        self.mu: np.ndarray | None = None  # PLDA mean (in the preprocessed space)
        self.between: np.ndarray | None = None  # B
        self.within: np.ndarray | None = None  # W
        self.transform_matrix: np.ndarray | None = None  # V
        self.psi: np.ndarray | None = None

    # ---------------------------------------------------------------- fit
    def fit(self, embeddings: np.ndarray, speakers: Sequence[Hashable]) -> PLDA:
        """Fit on ``[N, D]`` embeddings with one speaker label per row."""
        x = np.asarray(embeddings, dtype=np.float64)
        if x.ndim != 2 or len(x) != len(speakers):
            raise ValueError(f"need [N, D] embeddings and N speakers, got {x.shape}, {len(speakers)}")
        _, labels = np.unique(np.asarray(speakers), return_inverse=True)
        counts = np.bincount(labels)
        if len(counts) < 2 or len(x) <= len(counts):
            raise ValueError(
                f"PLDA needs 2+ speakers and some with 2+ utterances: {len(counts)} speakers, "
                f"{len(x)} embeddings"
            )
        self.center = x.mean(axis=0)
        self.lda = None
        if self.lda_dim is not None:
            self.lda = _lda(x - self.center, labels, counts, self.lda_dim)
        x = self._preprocess(x)
        self.mu = x.mean(axis=0)
        x = x - self.mu
        b, w = _moment_estimates(x, labels, counts)
        for _ in range(self.n_iter):
            b, w = _em_step(x, labels, counts, b, w)
        self.between, self.within = b, w
        psi, v = eigh(b, w)  # generalised: V' W V = I, V' B V = diag(psi)
        self.psi = np.maximum(psi, 0.0)
        self.transform_matrix = v
        return self

    def _preprocess(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64) - self.center
        if self.lda is not None:
            x = x @ self.lda
        if self.length_norm:
            x = x * np.sqrt(x.shape[-1]) / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), _EPS)
        return x

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Embeddings in the diagonal PLDA space (``W`` -> identity, ``B`` -> ``diag(psi)``)."""
        if self.psi is None:
            raise RuntimeError("PLDA is not fitted")
        return (self._preprocess(x) - self.mu) @ self.transform_matrix

    # ---------------------------------------------------------------- score
    def score(self, enroll: np.ndarray, test: np.ndarray) -> np.ndarray | float:
        """Log-likelihood ratio ``log p(e, t | same) - log p(e, t | different)`` for each row
        pair of ``enroll`` and ``test`` (``[T, D]`` each; ``[D]`` each gives a float).
        Symmetric in (enroll, test)."""
        single = np.ndim(enroll) == 1 and np.ndim(test) == 1
        a = self.transform(np.atleast_2d(enroll))
        b = self.transform(np.atleast_2d(test))
        psi = self.psi
        # Per dimension: [a, b] ~ N(0, [[1+psi, psi], [psi, 1+psi]]) vs N(0, (1+psi) I).
        quad_same = ((1 + psi) * (a * a + b * b) - 2 * psi * a * b) / (1 + 2 * psi)
        quad_diff = (a * a + b * b) / (1 + psi)
        const = np.sum(np.log1p(psi) - 0.5 * np.log1p(2 * psi))
        llr = const - 0.5 * np.sum(quad_same - quad_diff, axis=-1)
        return float(llr[0]) if single else llr

    def score_trials(
        self, embeddings: dict[str, np.ndarray], trials: Sequence[Sequence[str]]
    ) -> np.ndarray:
        """``[T]`` LLRs of a trial list (utterance-id -> embedding dict)."""
        mat, e, s, _ = _pair_matrices(embeddings, trials)
        return self.score(mat[e], mat[s])

    # ---------------------------------------------------------------- I/O
    _STATE = ("center", "lda", "mu", "between", "within", "transform_matrix", "psi")

    def save(self, path: str | Path) -> None:
        """Write the fitted model as ``.npz`` (arrays only: loading runs no code)."""
        if self.psi is None:
            raise RuntimeError("PLDA is not fitted")
        state = {k: getattr(self, k) for k in self._STATE if getattr(self, k) is not None}
        state["length_norm"] = np.array(self.length_norm)
        with open(path, "wb") as f:
            np.savez(f, **state)

    @classmethod
    def load(cls, path: str | Path) -> PLDA:
        with np.load(path, allow_pickle=False) as data:
            model = cls(length_norm=bool(data["length_norm"]))
            for k in cls._STATE:
                setattr(model, k, data[k] if k in data.files else None)
        if model.lda is not None:
            model.lda_dim = model.lda.shape[1]
        return model


def _class_sums(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    sums = np.zeros((k, x.shape[1]))
    np.add.at(sums, labels, x)
    return sums


def _lda(x: np.ndarray, labels: np.ndarray, counts: np.ndarray, dim: int) -> np.ndarray:
    """``[D, dim]`` LDA projection (centred input). By hand rather than scikit-learn's so the
    model saves as plain arrays; the directions maximise between- over within-class scatter."""
    k = len(counts)
    if not 0 < dim <= min(k - 1, x.shape[1]):
        raise ValueError(f"lda_dim must be in 1..{min(k - 1, x.shape[1])}, got {dim}")
    means = _class_sums(x, labels, k) / counts[:, None]
    sb = (means * counts[:, None]).T @ means / len(x)
    resid = x - means[labels]
    sw = resid.T @ resid / len(x)
    sw += 1e-6 * np.trace(sw) / len(sw) * np.eye(len(sw))  # keep it invertible
    _, vecs = eigh(sb, sw)
    return vecs[:, ::-1][:, :dim]


def _moment_estimates(
    x: np.ndarray, labels: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Unbiased starting point: pooled within-class covariance, and the covariance of the
    class means minus the part of it their sampling noise (``W / n_k``) explains."""
    k, d = len(counts), x.shape[1]
    means = _class_sums(x, labels, k) / counts[:, None]
    resid = x - means[labels]
    w = resid.T @ resid / (len(x) - k)
    centred = means - means.mean(axis=0)
    b = centred.T @ centred / max(k - 1, 1) - w * np.mean(1.0 / counts)
    vals, vecs = np.linalg.eigh(b)  # project onto the PSD cone, with a floor
    b = (vecs * np.maximum(vals, 1e-6 * np.trace(w) / d)) @ vecs.T
    return b, w


def _em_step(
    x: np.ndarray, labels: np.ndarray, counts: np.ndarray, b: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One EM iteration of the two-covariance model (mean fixed at zero).

    E: speaker k with ``n_k`` utterances summing to ``f_k`` has posterior
    ``y_k ~ N(L_k^-1 W^-1 f_k, L_k^-1)``, ``L_k = B^-1 + n_k W^-1``.
    M: ``B = mean_k E[y y']``; ``W = mean_i E[(x_i - y)(x_i - y)']``.
    """
    k, d = len(counts), x.shape[1]
    b_inv, w_inv = np.linalg.inv(b), np.linalg.inv(w)
    f = _class_sums(x, labels, k)
    y = np.empty_like(f)
    cov_sum_b = np.zeros((d, d))  # sum_k L_k^-1
    cov_sum_w = np.zeros((d, d))  # sum_k n_k L_k^-1
    for n in np.unique(counts):  # L_k only depends on n_k: one inverse per distinct count
        idx = np.flatnonzero(counts == n)
        l_inv = np.linalg.inv(b_inv + n * w_inv)
        y[idx] = f[idx] @ (l_inv @ w_inv).T
        cov_sum_b += len(idx) * l_inv
        cov_sum_w += len(idx) * n * l_inv
    yy = y.T @ y
    b_new = (yy + cov_sum_b) / k
    # sum_i (x_i - y_k)(x_i - y_k)' = X'X - F'Y - Y'F + sum_k n_k y_k y_k'
    fy = f.T @ y
    w_new = (x.T @ x - fy - fy.T + (y * counts[:, None]).T @ y + cov_sum_w) / len(x)
    return _sym(b_new), _sym(w_new)


def _sym(m: np.ndarray) -> np.ndarray:
    return 0.5 * (m + m.T)
