"""Kneser-Ney n-gram baseline against hand-computed probabilities."""

from __future__ import annotations

import math

import pytest

from audiokit.music.ngram import EOS, KneserNey, transposed


@pytest.fixture
def bigram() -> KneserNey:
    return KneserNey(2, discount=0.5).fit([["a", "b", "a", "b", "a", "c"]])


def test_bigram_by_hand(bigram):
    # <sos> a b a b a c <eos>. Unigram continuation counts N1+(. w): a 2 (after <sos>, b),
    # b 1, c 1, <eos> 1; total 5 over 4 types; vocabulary a b c <eos}.
    # P1(w) = (N1+(. w) - 0.5) / 5 + 0.5 * 4 / 5 * 1/4: a 0.4, b 0.2, c 0.2, <eos> 0.2
    assert bigram.prob((), "a") == pytest.approx(0.4)
    assert bigram.prob((), EOS) == pytest.approx(0.2)
    # history a: c(a b) = 2, c(a c) = 1, total 3, 2 types: backoff weight 0.5 * 2 / 3
    assert bigram.prob(("a",), "b") == pytest.approx(1.5 / 3 + 1 / 3 * 0.2)
    assert bigram.prob(("a",), "a") == pytest.approx(1 / 3 * 0.4)
    # an unseen history passes all its mass to the unigram level
    assert bigram.prob(("c", "zzz"), "a") == pytest.approx(0.4)
    # NLL of "a b": P(a|<sos>) = 0.5/1 + 0.5*1/1*0.4; P(b|a); P(<eos>|b) = 0.5*1/2*0.2
    nll, n = bigram.nll(["a", "b"])
    assert n == 3
    assert nll == pytest.approx(-math.log(0.7) - math.log(1.5 / 3 + 0.2 / 3) - math.log(0.05))


@pytest.mark.parametrize("order", [1, 3, 4])
def test_distributions_sum_to_one(order):
    model = KneserNey(order, 0.75, vocab={"x"}).fit([list("abcabdabcaab"), list("bcad")])
    for history in [(), ("a",), ("a", "b"), ("b", "c", "a"), ("q", "q", "q")]:
        assert sum(model.prob(history, w) for w in model.vocab) == pytest.approx(1.0)


def test_transposition_keeps_pitches_in_range():
    out = transposed([["on1", "shift2", "off1"]], 2)
    assert [s[0] for s in out] == ["on0", "on1", "on2", "on3"]  # -2 would leave 0..127
