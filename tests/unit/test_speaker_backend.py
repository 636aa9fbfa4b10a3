"""Speaker back-end: trial/score/embedding files, cosine and AS-norm against loop references,
PLDA against its generative model and the Gaussian likelihood ratio it stands for."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.metrics.pairwise import cosine_similarity

from audiokit.data.datadir import DataDir, DataDirError
from audiokit.inference.scoring import (
    PLDA,
    as_norm,
    as_norm_from_cohort_scores,
    as_norm_trials,
    cohort_stats,
    cosine_scores,
    speaker_cohort,
)
from audiokit.inference.trials import (
    Trial,
    read_embeddings,
    read_scores,
    read_trials,
    trial_labels,
    voxceleb_utt_id,
    write_embeddings,
    write_scores,
    write_trials,
)
from audiokit.metrics.verification import eer


# ------------------------------------------------------------------ trials
def test_read_trials_our_format(tmp_path):
    path = tmp_path / "trials"
    path.write_text("a1 b1 target\n\na1 c2 nontarget\n")
    assert read_trials(path) == [Trial("a1", "b1", True), Trial("a1", "c2", False)]


def test_read_trials_voxceleb_format(tmp_path):
    path = tmp_path / "veri_test.txt"
    path.write_text(
        "1 id10270/x6uYqmx31kE/00001.wav id10270/8jEAjG6SegY/00008.wav\n"
        "0 id10270/x6uYqmx31kE/00001.wav id10300/ize_eiCFEg0/00003.wav\n"
    )
    trials = read_trials(path)
    assert trials[0] == Trial("id10270-x6uYqmx31kE-00001", "id10270-8jEAjG6SegY-00008", True)
    assert trials[1].test == "id10300-ize_eiCFEg0-00003" and trials[1].target is False
    assert trial_labels(trials).tolist() == [1, 0]
    # Another naming rule for the paths.
    custom = read_trials(path, utt_id_fn=lambda p: p.split("/")[-1].removesuffix(".wav"))
    assert custom[0] == Trial("00001", "00008", True)
    assert voxceleb_utt_id("id1/v/00002.flac") == "id1-v-00002"


def test_read_trials_unlabelled(tmp_path):
    path = tmp_path / "pairs"
    path.write_text("a b\nc d\n")
    trials = read_trials(path)
    assert trials == [Trial("a", "b", None), Trial("c", "d", None)]
    with pytest.raises(ValueError, match="no labels"):
        trial_labels(trials)


@pytest.mark.parametrize(
    "text,match",
    [
        ("a b target\nc d maybe\n", r"trials:2: bad label 'maybe' \(expected target or nontarget\)"),
        ("1 a.wav b.wav\n2 a.wav c.wav\n", r"trials:2: bad label '2' \(expected 1 or 0\)"),
        ("a b target\nc d\n", r"trials:2: expected 3 fields"),
        ("a b\nc d target\n", r"trials:2: expected 2 fields"),
        ("a b target\n\nc d e nontarget\n", r"trials:3: expected 3 fields"),
        ("", r"no trials"),
    ],
)
def test_read_trials_errors_name_file_and_line(tmp_path, text, match):
    path = tmp_path / "trials"
    path.write_text(text)
    with pytest.raises(DataDirError, match=match):
        read_trials(path)


def test_read_trials_missing_utterance_in_data_dir(tmp_path):
    data = tmp_path / "test"
    data.mkdir()
    (data / "wav.scp").write_text("u1 /x/u1.wav\nu2 /x/u2.wav\nu3 /x/u3.wav\n")
    (data / "trials").write_text("u1 u2 target\nu2 u3 nontarget\nu3 u9 nontarget\nu8 u1 target\n")
    known = DataDir.load(data).utt_ids
    with pytest.raises(DataDirError) as err:
        read_trials(data / "trials", known_utts=known)
    msg = str(err.value)
    assert f"{data / 'trials'}:3:" in msg and "test utterance 'u9'" in msg and "2 trial" in msg
    assert "line: 'u3 u9 nontarget'" in msg
    assert len(read_trials(data / "trials", known_utts=["u1", "u2", "u3", "u8", "u9"])) == 4
    # VoxCeleb paths are checked as the ids they map to.
    vox = tmp_path / "veri_test.txt"
    vox.write_text("1 id1/v1/00001.wav id1/v2/00002.wav\n")
    with pytest.raises(DataDirError, match="enroll utterance 'id1-v1-00001'"):
        read_trials(vox, known_utts={"id1-v2-00002"})


def test_write_trials_round_trip(tmp_path):
    trials = [Trial("a", "b", True), Trial("a", "c", False)]
    write_trials(tmp_path / "trials", trials)
    assert (tmp_path / "trials").read_text() == "a b target\na c nontarget\n"
    assert read_trials(tmp_path / "trials") == trials


# ------------------------------------------------------------------ files
def test_embeddings_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    emb = {f"spk{i}-utt{j}": rng.normal(size=16).astype(np.float32) for i in range(3) for j in range(2)}
    path = tmp_path / "embeddings.npz"
    write_embeddings(path, emb)
    back = read_embeddings(path)
    assert list(back) == list(emb)
    for k in emb:
        assert back[k].dtype == np.float32 and np.array_equal(back[k], emb[k])
    assert not list(tmp_path.glob("*.tmp"))
    # Plain numpy reads it, without pickle.
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == set(emb)
    # Ids that np.savez would take as its own arguments are ordinary keys here.
    write_embeddings(path, {"file": np.ones(2), "allow_pickle": np.zeros(2)})
    assert read_embeddings(path)["file"].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="same size"):
        write_embeddings(tmp_path / "bad.npz", {"a": np.zeros(3), "b": np.zeros(4)})


def test_scores_file_format(tmp_path):
    trials = [Trial("a", "b", True), Trial("a", "c", False)]
    path = tmp_path / "scores"
    write_scores(path, trials, [0.5, -1.25])
    assert path.read_text() == "a b 0.500000\na c -1.250000\n"
    pairs, scores = read_scores(path)
    assert pairs == [("a", "b"), ("a", "c")] and scores.tolist() == [0.5, -1.25]
    with pytest.raises(ValueError, match="trial 'a c' is nan"):
        write_scores(path, trials, [0.5, np.nan])
    path.write_text("a b 0.5\na c x\n")
    with pytest.raises(DataDirError, match=r"scores:2: score is not a number"):
        read_scores(path)


# ------------------------------------------------------------------ cosine, AS-norm
def _random_setup(n_utts=30, dim=12, n_trials=80, seed=0):
    rng = np.random.default_rng(seed)
    emb = {f"u{i}": rng.normal(size=dim) + 0.5 for i in range(n_utts)}
    idx = rng.integers(0, n_utts, size=(n_trials, 2))
    trials = [Trial(f"u{a}", f"u{b}", None) for a, b in idx]
    return rng, emb, trials


def test_cosine_scores_match_sklearn():
    rng, emb, trials = _random_setup()
    got = cosine_scores(emb, trials)
    want = [cosine_similarity(emb[t.enroll][None], emb[t.test][None])[0, 0] for t in trials]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    mean = rng.normal(size=12)
    got = cosine_scores(emb, [(t.enroll, t.test) for t in trials], mean=mean)
    want = [cosine_similarity((emb[t.enroll] - mean)[None], (emb[t.test] - mean)[None])[0, 0]
            for t in trials]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    with pytest.raises(KeyError, match="no embedding for utterance 'zz'"):
        cosine_scores(emb, [("u1", "zz")])


def _as_norm_loop(scores, enroll, test, cohort, top_n):
    """Reference: one trial at a time, sorting each side's cohort scores."""
    def unit(v):
        return v / np.linalg.norm(v)

    out = []
    for s, e, t in zip(scores, enroll, test, strict=True):
        stats = []
        for side in (e, t):
            cs = sorted((float(unit(side) @ unit(c)) for c in cohort), reverse=True)[:top_n]
            stats.append((np.mean(cs), np.std(cs)))
        (mu_e, sd_e), (mu_t, sd_t) = stats
        out.append(0.5 * ((s - mu_e) / sd_e + (s - mu_t) / sd_t))
    return np.array(out)


@pytest.mark.parametrize("top_n", [5, 17, 1000])
def test_as_norm_matches_loop(top_n):
    rng, emb, trials = _random_setup()
    cohort = rng.normal(size=(40, 12)) + 0.5
    scores = cosine_scores(emb, trials)
    enroll = np.stack([emb[t.enroll] for t in trials])
    test = np.stack([emb[t.test] for t in trials])
    want = _as_norm_loop(scores, enroll, test, cohort, top_n)
    np.testing.assert_allclose(as_norm(scores, enroll, test, cohort, top_n=top_n), want, rtol=1e-10)
    np.testing.assert_allclose(as_norm_trials(scores, emb, trials, cohort, top_n=top_n), want,
                               rtol=1e-10)
    # Chunked cohort statistics equal the one-shot ones.
    mu1, sd1 = cohort_stats(enroll, cohort, top_n, chunk=7)
    mu2, sd2 = cohort_stats(enroll, cohort, top_n)
    np.testing.assert_allclose(mu1, mu2)
    np.testing.assert_allclose(sd1, sd2)


def test_as_norm_invariances():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=50)
    enroll_cs, test_cs = rng.normal(size=(50, 30)), rng.normal(size=(50, 30))
    ref = as_norm_from_cohort_scores(scores, enroll_cs, test_cs, top_n=10)
    # A constant added to every score (trial and cohort alike) changes nothing; nor does a
    # positive scale: AS-norm sees scores only relative to each side's cohort distribution.
    np.testing.assert_allclose(
        as_norm_from_cohort_scores(scores + 3.0, enroll_cs + 3.0, test_cs + 3.0, top_n=10), ref)
    np.testing.assert_allclose(
        as_norm_from_cohort_scores(2.5 * scores, 2.5 * enroll_cs, 2.5 * test_cs, top_n=10), ref)
    # The same cohort scores for every trial: AS-norm is an increasing affine map of the raw
    # scores, so it leaves the ranking (and the EER) as it is.
    same = np.tile(rng.normal(size=30), (50, 1))
    normed = as_norm_from_cohort_scores(scores, same, same, top_n=10)
    fit = np.polyfit(scores, normed, 1)
    np.testing.assert_allclose(normed, np.polyval(fit, scores))
    assert fit[0] > 0
    labels = (rng.random(50) < 0.5).astype(int)
    assert eer(normed, labels)[0] == pytest.approx(eer(scores, labels)[0])
    with pytest.raises(ValueError, match="top_n >= 2"):
        as_norm_from_cohort_scores(scores, enroll_cs, test_cs, top_n=1)


def test_speaker_cohort_is_mean_of_unit_embeddings():
    emb = {"a1": np.array([2.0, 0.0]), "a2": np.array([0.0, 3.0]), "b1": np.array([0.0, -1.0])}
    cohort = speaker_cohort(emb, {"a1": "A", "a2": "A", "b1": "B"})
    np.testing.assert_allclose(cohort, [[0.5, 0.5], [0.0, -1.0]])


# ------------------------------------------------------------------ PLDA
def _plda_data(n_spk, n_utt, b, w, mean, rng):
    dim = len(mean)
    y = rng.multivariate_normal(np.zeros(dim), b, size=n_spk)
    x = mean + np.repeat(y, n_utt, axis=0) + rng.multivariate_normal(np.zeros(dim), w,
                                                                      size=n_spk * n_utt)
    return x, np.repeat(np.arange(n_spk), n_utt)


def _random_spd(dim, rng, scales):
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    return (q * scales) @ q.T


@pytest.fixture(scope="module")
def plda_problem():
    rng = np.random.default_rng(0)
    dim = 8
    # Speaker variability in some directions, channel noise dominant in others: cosine
    # cannot tell them apart, PLDA weighs each direction by how much it says about identity.
    b = _random_spd(dim, rng, np.array([4.0, 3.0, 2.0, 1.0, 0.3, 0.2, 0.1, 0.05]))
    w = _random_spd(dim, rng, np.array([0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0]))
    mean = rng.normal(size=dim) * 2.0
    x, spk = _plda_data(2000, 6, b, w, mean, rng)
    # Mix utterance counts per speaker (2..6) so EM sees unbalanced classes.
    keep = np.tile(np.arange(6), 2000) < np.repeat(rng.integers(2, 7, 2000), 6)
    x, spk = x[keep], spk[keep]
    x_test, spk_test = _plda_data(150, 4, b, w, mean, rng)
    return b, w, mean, x, spk, x_test, spk_test


def test_plda_recovers_generative_covariances(plda_problem):
    b, w, mean, x, spk, _, _ = plda_problem
    plda = PLDA().fit(x, spk)

    def rel_err(est, true):
        return np.linalg.norm(est - true) / np.linalg.norm(true)

    # Sampling error of 2000 speakers is ~0.09 for B: a loose bound, not a tight fit.
    assert rel_err(plda.between, b) < 0.15
    assert rel_err(plda.within, w) < 0.06
    np.testing.assert_allclose(plda.center + plda.mu, mean, atol=0.15)


def _plda_log_likelihood(plda, x, spk):
    """Exact log-likelihood of the data under the fitted model: a speaker's n stacked
    utterances are N(0, I_n (x) W + 1 1' (x) B) around the model mean."""
    x = x - plda.center - plda.mu
    _, labels = np.unique(spk, return_inverse=True)
    counts = np.bincount(labels)
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    total = 0.0
    for n in np.unique(counts):
        cov = np.kron(np.eye(n), plda.within) + np.kron(np.ones((n, n)), plda.between)
        rows = np.stack([x[order[starts[k]:starts[k] + n]].reshape(-1)
                         for k in np.flatnonzero(counts == n)])
        total += multivariate_normal(np.zeros(len(cov)), cov).logpdf(rows).sum()
    return total


def test_plda_em_increases_likelihood(plda_problem):
    _, _, _, x, spk, _, _ = plda_problem
    # EM from the moment estimates: the likelihood never decreases, and does increase.
    lls = [_plda_log_likelihood(PLDA(n_iter=k).fit(x, spk), x, spk) for k in (0, 1, 3, 10)]
    assert all(b >= a - 1e-6 for a, b in zip(lls, lls[1:], strict=False))
    assert lls[-1] > lls[0]


def test_plda_llr_is_the_gaussian_likelihood_ratio(plda_problem):
    _, _, _, x, spk, x_test, _ = plda_problem
    plda = PLDA().fit(x, spk)
    b, w = plda.between, plda.within
    t = b + w
    same = multivariate_normal(np.zeros(16), np.block([[t, b], [b, t]]))
    diff = multivariate_normal(np.zeros(8), t)
    e, s = x_test[:5], x_test[5:10]
    want = []
    for xe, xs in zip(e, s, strict=True):
        ce, cs = xe - plda.center - plda.mu, xs - plda.center - plda.mu
        want.append(same.logpdf(np.concatenate([ce, cs])) - diff.logpdf(ce) - diff.logpdf(cs))
    np.testing.assert_allclose(plda.score(e, s), want, rtol=1e-8, atol=1e-8)
    # Symmetric, and a single pair gives a float.
    np.testing.assert_allclose(plda.score(s, e), plda.score(e, s), rtol=1e-12)
    assert isinstance(plda.score(e[0], s[0]), float)


def test_plda_beats_cosine_on_its_model(plda_problem, tmp_path):
    _, _, _, x, spk, x_test, spk_test = plda_problem
    emb = {f"u{i}": v for i, v in enumerate(x_test)}
    n = len(x_test)
    ii, jj = np.triu_indices(n, k=1)
    trials = [Trial(f"u{i}", f"u{j}", bool(spk_test[i] == spk_test[j])) for i, j in zip(ii, jj,
                                                                                        strict=True)]
    labels = np.array([t.target for t in trials], dtype=int)
    plda = PLDA().fit(x, spk)
    eer_plda = eer(plda.score_trials(emb, trials), labels)[0]
    eer_cos = eer(cosine_scores(emb, trials, mean=x.mean(axis=0)), labels)[0]
    assert eer_plda <= eer_cos
    assert eer_plda < 0.8 * eer_cos  # and clearly so on data from its own model
    # Preprocessing options keep it working; save/load reproduces the scores.
    plda2 = PLDA(lda_dim=6, length_norm=True).fit(x, spk)
    llr = plda2.score_trials(emb, trials)
    assert eer(llr, labels)[0] < 0.5
    plda2.save(tmp_path / "plda.npz")
    np.testing.assert_allclose(PLDA.load(tmp_path / "plda.npz").score_trials(emb, trials), llr)


def test_plda_input_errors():
    with pytest.raises(ValueError, match="2\\+ speakers"):
        PLDA().fit(np.zeros((3, 2)), ["a", "b", "c"])
    with pytest.raises(RuntimeError, match="not fitted"):
        PLDA().score(np.zeros(2), np.zeros(2))
