"""Decoding algorithms against hand-made values, brute-force CTC enumeration, greedy search,
torch's ctc_loss and teacher-forced rescoring, on tiny random modules with the step API."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from audiokit.decoding import (
    CTCPrefixScorer,
    JointBeamSearch,
    ctc_greedy,
    ctc_prefix_beam_search,
    select_state,
)

NEG_INF = float("-inf")


# ---------------------------------------------------------------- references and tiny modules

def logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    hi, lo = max(a, b), min(a, b)
    return hi + math.log1p(math.exp(lo - hi))


def brute_force(x: torch.Tensor, blank: int = 0) -> tuple[dict, dict]:
    """Enumerate all V^T alignments of x [T, V]: (full, prefix) log-probabilities of label
    sequences: p(collapse == g) and p(collapse starts with g)."""
    T, V = x.shape
    x = x.double().tolist()
    full: dict[tuple, float] = defaultdict(lambda: NEG_INF)
    for path in itertools.product(range(V), repeat=T):
        lp = sum(x[t][k] for t, k in enumerate(path))
        seq = tuple(k for t, k in enumerate(path) if k != blank and (t == 0 or k != path[t - 1]))
        full[seq] = logaddexp(full[seq], lp)
    prefix: dict[tuple, float] = defaultdict(lambda: NEG_INF)
    for seq, lp in full.items():
        for j in range(len(seq) + 1):
            prefix[seq[:j]] = logaddexp(prefix[seq[:j]], lp)
    return full, prefix


def close_or_impossible(got: float, want: float) -> bool:
    """A probability-0 event must score far below anything real."""
    return got < -1e3 if want == NEG_INF else math.isclose(got, want, abs_tol=1e-9)


def random_ctc(B: int, T: int, V: int, seed: int, eos_penalty: float = 4.0) -> torch.Tensor:
    """Random CTC log-probs; the <eos> column (last) is unlikely, as from a trained CTC head."""
    g = torch.Generator().manual_seed(seed)
    logits = 2.0 * torch.randn(B, T, V, generator=g, dtype=torch.float64)
    logits[..., -1] -= eos_penalty
    return logits.log_softmax(-1)


class TinyDecoder(nn.Module):
    """An attention-decoder stand-in: last label + running history (a nested state) + the
    masked mean of the memory -> log-softmax. <eos> gets likelier as hypotheses grow."""

    def __init__(self, V: int, D: int, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.emb, self.proj, self.out = nn.Embedding(V, D), nn.Linear(D, D), nn.Linear(D, V)

    def step(self, ys, state, memory, memory_lens):
        mask = torch.arange(memory.size(1), device=memory.device) < memory_lens[:, None]
        ctx = (memory * mask[..., None]).sum(1) / memory_lens.clamp_min(1)[:, None]
        hist = self.emb(ys[:, -1]) + (0 if state is None else 0.5 * state[0])
        logits = 3.0 * self.out(torch.tanh(hist + self.proj(ctx)))
        logits[:, -1] += ys.size(1) - 4.0
        return logits.log_softmax(-1), (hist, [hist.sum(-1, keepdim=True)])


class TinyLM(nn.Module):
    def __init__(self, V: int, D: int, seed: int = 1) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.emb, self.out = nn.Embedding(V, D), nn.Linear(D, V)

    def step(self, ys, state):
        hist = self.emb(ys[:, -1]) + (0 if state is None else 0.7 * state)
        return (2.0 * self.out(torch.tanh(hist))).log_softmax(-1), hist


def rescore(module, tokens: list[int], eos: int, *mem) -> float:
    """Teacher-forced log p(tokens + <eos>) from a step module, one label at a time."""
    ys, state, total = torch.tensor([[eos]]), None, 0.0
    for nxt in [*tokens, eos]:
        logp, state = module.step(ys, state, *mem)
        total += float(logp[0, nxt].detach())
        ys = torch.cat([ys, torch.tensor([[nxt]])], 1)
    return total


def setup(B=4, T=12, V=8, D=6, seed=0, lens=None):
    g = torch.Generator().manual_seed(seed + 100)
    memory = torch.randn(B, T, D, generator=g)
    lens = torch.tensor(lens) if lens is not None else torch.randint(3, T + 1, (B,), generator=g)
    return memory, lens, random_ctc(B, T, V, seed), TinyDecoder(V, D, seed), TinyLM(V, D, seed)


# ---------------------------------------------------------------- CTC greedy and prefix search

def test_ctc_greedy_hand_made():
    # Frame argmaxes: utt 0: 1 1 0 1 2 2 0 -> [1, 1, 2]; utt 1 (3 frames): 2 0 2 | 1 1 1 1 -> [2, 2].
    paths = torch.tensor([[1, 1, 0, 1, 2, 2, 0], [2, 0, 2, 1, 1, 1, 1]])
    log_probs = (F.one_hot(paths, 3) * 5.0).log_softmax(-1)
    assert ctc_greedy(log_probs, torch.tensor([7, 3])) == [[1, 1, 2], [2, 2]]
    assert ctc_greedy(log_probs, torch.tensor([7, 0])) == [[1, 1, 2], []]
    assert ctc_greedy(log_probs, torch.tensor([7, 7]), blank=1) == [[0, 2, 0], [2, 0, 2]]
    with pytest.raises(ValueError, match="outside"):
        ctc_greedy(log_probs, torch.tensor([8, 3]))


def test_prefix_scorer_matches_brute_force():
    B, T, V, eos = 2, 5, 4, 3
    log_probs = random_ctc(B, T, V, seed=3, eos_penalty=0.0)
    lens = torch.tensor([5, 3])
    refs = [brute_force(log_probs[b, : lens[b]]) for b in range(B)]
    exact = ctc_prefix_beam_search(log_probs, lens, beam=1000, nbest=1000)
    scorer = CTCPrefixScorer(log_probs, lens, blank=0, eos=None)
    scorer_eos = CTCPrefixScorer(log_probs, lens, blank=0, eos=eos)
    # All label sequences of length 0..3 in both utterances, grown level by level.
    hyps = [(b, ()) for b in range(B)]
    state = scorer.initial_state(torch.arange(B))
    for level in range(4):
        psi = scorer.score(state, start=level)
        assert torch.allclose(psi, scorer.score(state), atol=1e-12)  # start= is exact
        psi_eos = scorer_eos.score(state, start=level)
        full = scorer.full_score(state)
        for n, (b, h) in enumerate(hyps):
            full_ref, prefix_ref = refs[b]
            assert close_or_impossible(float(full[n]), full_ref[h])
            assert close_or_impossible(float(psi_eos[n, eos]), full_ref[h])
            assert psi[n, 0] <= -1e9  # blank never extends a prefix
            for c in range(1, V):
                assert close_or_impossible(float(psi[n, c]), prefix_ref[h + (c,)])
        # A candidate subset scores the same as the full vocabulary.
        cand = torch.tensor([[3, 1]]).expand(len(hyps), 2)
        assert torch.allclose(scorer.score(state, cand), psi.gather(1, cand), atol=1e-12)
        # Reordering the state reorders the scores.
        perm = torch.randperm(len(hyps))
        assert torch.allclose(scorer.score(select_state(state, perm)), psi[perm], atol=1e-12)
        parent = torch.arange(len(hyps)).repeat_interleave(V - 1)
        label = torch.arange(1, V).repeat(len(hyps))
        hyps = [(hyps[p][0], hyps[p][1] + (c,)) for p, c in zip(parent.tolist(), label.tolist(),
                                                                 strict=True)]
        state = scorer.advance(state, parent, label)
    # The exact prefix beam search agrees on every label sequence's full probability.
    for b in range(B):
        full_ref = refs[b][0]
        assert len(exact[b]) == sum(v > NEG_INF for v in full_ref.values())
        for ids, lp in exact[b]:
            assert math.isclose(lp, full_ref[tuple(ids)], abs_tol=1e-9)


def test_prefix_beam_search_large_beam_is_exact():
    log_probs = random_ctc(3, 5, 4, seed=7, eos_penalty=0.0)
    lens = torch.tensor([5, 4, 2])
    got = ctc_prefix_beam_search(log_probs, lens, beam=4**5, nbest=3)
    for b in range(3):
        full = brute_force(log_probs[b, : lens[b]])[0]
        best = sorted(full.items(), key=lambda kv: kv[1], reverse=True)[:3]
        assert [tuple(ids) for ids, _ in got[b]] == [g for g, _ in best]
        assert all(math.isclose(s, r, abs_tol=1e-9) for (_, s), (_, r) in zip(got[b], best,
                                                                              strict=True))
    # A small beam keeps the best one here and never scores above the truth.
    small = ctc_prefix_beam_search(log_probs, lens, beam=3)
    for b in range(3):
        ids, lp = small[b][0]
        assert lp <= brute_force(log_probs[b, : lens[b]])[0][tuple(ids)] + 1e-9


# ---------------------------------------------------------------- joint beam search

@pytest.mark.parametrize("bonus", [-20.0, -1.0, 0.0, 1.0, 3.0, 20.0])
def test_ctc_only_search_is_exact_with_a_wide_beam(bonus):
    """Labels {1, 2}, <eos> = 3: a beam of 64 holds every prefix, so the search is exact:
    the best sequences maximise log p_ctc(g) + bonus * |g| (brute force)."""
    B, T, V = 3, 5, 4
    log_probs = random_ctc(B, T, V, seed=11, eos_penalty=30.0)
    lens = torch.tensor([5, 3, 4])
    search = JointBeamSearch(V, beam=64, ctc_weight=1.0, length_bonus=bonus, nbest=4)
    got = search(None, lens, log_probs)
    for b in range(B):
        full = {g: s + bonus * len(g) for g, s in brute_force(log_probs[b, : lens[b]])[0].items()
                if 3 not in g}
        best = sorted(full.items(), key=lambda kv: kv[1], reverse=True)[:4]
        assert [tuple(h.tokens) for h in got[b]] == [g for g, _ in best]
        for h, (g, s) in zip(got[b], best, strict=True):
            assert math.isclose(h.score, s, abs_tol=1e-8)
            assert math.isclose(h.scores["ctc"], s - bonus * len(g), abs_tol=1e-8)


def test_length_bonus_lengthens_hypotheses():
    log_probs = random_ctc(1, 5, 4, seed=11, eos_penalty=30.0)
    lengths = []
    for bonus in [-20.0, -1.0, 0.0, 1.0, 3.0, 20.0]:
        search = JointBeamSearch(4, beam=64, ctc_weight=1.0, length_bonus=bonus)
        lengths.append(len(search(None, torch.tensor([5]), log_probs)[0][0].tokens))
    assert lengths == sorted(lengths) and lengths[0] == 0 and lengths[-1] == 5


def test_attention_beam_one_equals_greedy():
    memory, lens, _, dec, _ = setup(B=3, lens=[12, 5, 8])
    V, eos = 8, 7
    got = JointBeamSearch(V, beam=1, ctc_weight=0.0)(memory, lens, decoder=dec)
    for b in range(3):
        ys, state, total = torch.tensor([[eos]]), None, 0.0
        for _ in range(int(lens[b]) + 1):
            logp, state = dec.step(ys, state, memory[b : b + 1], lens[b : b + 1])
            logp[:, 0] = NEG_INF  # blank is never an output label
            if ys.size(1) > lens[b]:  # at the maximum length only <eos> is left
                logp[:, :eos] = NEG_INF
            c = int(logp.argmax())
            total += float(logp[0, c].detach())
            if c == eos:
                break
            ys = torch.cat([ys, torch.tensor([[c]])], 1)
        hyp = got[b][0]
        assert hyp.tokens == ys[0, 1:].tolist()
        assert len(hyp.tokens) >= 1  # the decoder's <eos> bias lets some grow
        assert math.isclose(hyp.score, total, abs_tol=1e-5)
        assert math.isclose(hyp.scores["att"], total, abs_tol=1e-5)


def test_ctc_beam_one_equals_ctc_greedy_on_peaked_posteriors():
    g = torch.Generator().manual_seed(5)
    B, T, V = 4, 20, 8
    paths = torch.randint(0, V - 1, (B, T), generator=g)  # labels 0..6, never <eos>
    paths[torch.rand(B, T, generator=g) < 0.4] = 0
    log_probs = (8.0 * F.one_hot(paths, V) + torch.randn(B, T, V, generator=g)).log_softmax(-1)
    lens = torch.tensor([20, 13, 7, 16])
    got = JointBeamSearch(V, beam=1, ctc_weight=1.0)(None, lens, log_probs)
    want = ctc_greedy(log_probs, lens)
    assert [h[0].tokens for h in got] == want
    assert sum(map(len, want)) > 15


def test_lm_weight_zero_equals_no_lm():
    memory, lens, ctc, dec, lm = setup(seed=2)
    kw = dict(beam=4, ctc_weight=0.4, nbest=3)
    with_lm = JointBeamSearch(8, lm_weight=0.0, **kw)(memory, lens, ctc, dec, lm)
    without = JointBeamSearch(8, **kw)(memory, lens, ctc, dec, None)
    assert with_lm == without
    fused = JointBeamSearch(8, lm_weight=0.8, **kw)(memory, lens, ctc, dec, lm)
    assert all("lm" in h.scores for hyps in fused for h in hyps)
    assert [h.tokens for hyps in fused for h in hyps] != [h.tokens for hyps in without for h in hyps]


def test_scores_match_teacher_forced_rescoring():
    """Each n-best hypothesis: its att/lm components equal teacher-forced log-probs, its CTC
    component equals -ctc_loss, and the total is their weighted sum plus the length bonus."""
    memory, lens, ctc, dec, lm = setup(B=3, seed=4, lens=[12, 6, 9])
    w, mu, bonus, eos = 0.4, 0.3, 0.5, 7
    search = JointBeamSearch(8, beam=5, ctc_weight=w, lm_weight=mu, length_bonus=bonus,
                             nbest=3, max_len_ratio=0.5)
    got = search(memory, lens, ctc, dec, lm)
    for b, hyps in enumerate(got):
        assert len(hyps) == 3
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        for h in hyps:
            assert len(h.tokens) <= int(0.5 * lens[b]) and 0 not in h.tokens and eos not in h.tokens
            att = rescore(dec, h.tokens, eos, memory[b : b + 1], lens[b : b + 1])
            lmp = rescore(lm, h.tokens, eos)
            ctc_ref = -F.ctc_loss(ctc[b, : lens[b], None].double(), torch.tensor([h.tokens]),
                                  lens[b : b + 1], torch.tensor([len(h.tokens)]),
                                  reduction="none")
            assert math.isclose(h.scores["att"], att, abs_tol=1e-4)
            assert math.isclose(h.scores["lm"], lmp, abs_tol=1e-4)
            assert math.isclose(h.scores["ctc"], float(ctc_ref), abs_tol=1e-6)
            total = (1 - w) * att + w * float(ctc_ref) + mu * lmp + bonus * len(h.tokens)
            assert math.isclose(h.score, total, abs_tol=1e-4)


@pytest.mark.parametrize("ctc_weight", [0.3, 0.5])
@pytest.mark.parametrize("beam", [4, 10])
def test_batched_equals_one_by_one(ctc_weight, beam):
    memory, lens, ctc, dec, lm = setup(B=5, T=14, V=9, seed=beam, lens=[14, 3, 9, 6, 11])
    search = JointBeamSearch(9, beam=beam, ctc_weight=ctc_weight, lm_weight=0.2, nbest=2)
    batched = search(memory, lens, ctc, dec, lm)
    for b in range(5):
        n = int(lens[b])
        alone = search(memory[b : b + 1, :n], lens[b : b + 1], ctc[b : b + 1, :n], dec, lm)[0]
        assert [h.tokens for h in batched[b]] == [h.tokens for h in alone]
        for x, y in zip(batched[b], alone, strict=True):
            assert math.isclose(x.score, y.score, abs_tol=1e-4)
    assert len({tuple(h[0].tokens) for h in batched}) == 5  # the utterances differ


class NoEarlyStop(JointBeamSearch):
    """Never sees an ended hypothesis worth stopping for: runs every utterance to its maximum
    length."""

    def _collect(self, ended, n_ended, kth, *args):
        super()._collect(ended, n_ended, kth, *args)
        kth.fill_(NEG_INF)


@pytest.mark.parametrize("kw", [dict(ctc_weight=0.3, lm_weight=0.2), dict(ctc_weight=0.0),
                                dict(ctc_weight=1.0, lm_weight=0.5),
                                dict(ctc_weight=0.5, length_bonus=1.0),
                                dict(ctc_weight=0.5, length_bonus=0.3, normalize_length=True)])
def test_early_stopping_is_exact(kw):
    """Stopping an utterance once no running hypothesis can beat its n-best changes nothing."""
    memory, lens, ctc, dec, lm = setup(B=5, T=14, V=9, seed=3, lens=[14, 3, 9, 6, 11])
    calls = []
    step = dec.step
    dec.step = lambda *a: calls.append(1) or step(*a)
    early = JointBeamSearch(9, beam=4, nbest=3, **kw)(memory, lens, ctc, dec, lm)
    n_early, calls[:] = len(calls), []
    full = NoEarlyStop(9, beam=4, nbest=3, **kw)(memory, lens, ctc, dec, lm)
    assert [[h.tokens for h in x] for x in early] == [[h.tokens for h in x] for x in full]
    if kw["ctc_weight"] < 1:
        assert n_early < len(calls) == 15  # it did stop early; without, 14 labels + <eos>


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    memory, lens, ctc, dec, lm = setup(B=6, T=30, V=12, seed=8, lens=[30, 4, 17, 9, 25, 12])
    search = JointBeamSearch(12, beam=6, ctc_weight=0.4, lm_weight=0.3, nbest=3)
    cpu = search(memory, lens, ctc, dec, lm)
    gpu = search(memory.cuda(), lens.cuda(), ctc.cuda(), dec.cuda(), lm.cuda())
    assert [[h.tokens for h in x] for x in gpu] == [[h.tokens for h in x] for x in cpu]
    assert all(math.isclose(a.score, b.score, abs_tol=1e-3)
               for x, y in zip(gpu, cpu, strict=True) for a, b in zip(x, y, strict=True))
    assert ctc_greedy(ctc.cuda(), lens.cuda()) == ctc_greedy(ctc, lens)
    assert ctc_prefix_beam_search(ctc.cuda(), lens.cuda(), 4) == ctc_prefix_beam_search(ctc, lens, 4)
    ctc_only = JointBeamSearch(12, beam=6, ctc_weight=1.0)
    assert ([h[0].tokens for h in ctc_only(None, lens.cuda(), ctc.cuda())]
            == [h[0].tokens for h in ctc_only(None, lens, ctc)])


def test_length_normalised_ranking():
    memory, lens, ctc, dec, _ = setup(seed=6)
    got = JointBeamSearch(8, beam=6, ctc_weight=0.3, nbest=6, normalize_length=True)(
        memory, lens, ctc, dec)
    for hyps in got:
        keys = [h.score / (len(h.tokens) + 1) for h in hyps]
        assert keys == sorted(keys, reverse=True) and len(hyps) == 6


def test_bad_arguments():
    memory, lens, ctc, dec, _ = setup()
    with pytest.raises(ValueError, match="CTC log-probs"):
        JointBeamSearch(8, ctc_weight=0.3)(memory, lens, None, dec)
    with pytest.raises(ValueError, match="decoder"):
        JointBeamSearch(8, ctc_weight=0.3)(memory, lens, ctc, None)
    with pytest.raises(ValueError, match="nbest"):
        JointBeamSearch(8, beam=2, nbest=3)
    with pytest.raises(ValueError, match="labels"):
        JointBeamSearch(9, ctc_weight=0.3)(memory, lens, ctc, dec)
