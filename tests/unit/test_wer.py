"""WER/CER: hand-counted cases, a recursive reference search, and jiwer on random corpora."""

from __future__ import annotations

import functools
import math
import random

import jiwer
import pytest

from audiokit.metrics.wer import (
    ErrorCounts,
    align,
    align_corpus,
    cer,
    format_alignment,
    total_counts,
    wer,
    word_errors,
)


def sdi(ref: str, hyp: str) -> tuple[int, int, int, int]:
    c = align(ref.split(), hyp.split()).counts
    return c.hits, c.sub, c.dels, c.ins


@pytest.mark.parametrize("ref, hyp, expected", [
    ("the cat sat on the mat", "the cat sit on mat", (4, 1, 1, 0)),
    ("a b c", "a x b c", (3, 0, 0, 1)),
    ("a b c", "a b c", (3, 0, 0, 0)),
    ("a b c", "x y z", (0, 3, 0, 0)),
    ("a b c d", "", (0, 0, 4, 0)),
    ("", "x y", (0, 0, 0, 2)),
    ("", "", (0, 0, 0, 0)),
    # two errors either way: one hit with a deletion and an insertion beats two substitutions
    ("a b", "b a", (1, 0, 1, 1)),
    ("one two three four", "one too three for five", (2, 2, 0, 1)),
])
def test_hand_counted(ref, hyp, expected):
    assert sdi(ref, hyp) == expected
    assert word_errors(ref, hyp) == sum(expected[1:])


def _reference_counts(r: tuple, h: tuple) -> tuple[int, int, int, int]:
    """Reference: recursion over every alignment (memoised), keeping the fewest errors, then
    the fewest substitutions -> (errors, S, D, I)."""
    @functools.cache
    def best(i: int, j: int) -> tuple[int, int, int, int]:
        if i == len(r) and j == len(h):
            return (0, 0, 0, 0)
        options = []
        if i < len(r) and j < len(h):
            e, s, d, n = best(i + 1, j + 1)
            x = int(r[i] != h[j])
            options.append((e + x, s + x, d, n))
        if i < len(r):
            e, s, d, n = best(i + 1, j)
            options.append((e + 1, s, d + 1, n))
        if j < len(h):
            e, s, d, n = best(i, j + 1)
            options.append((e + 1, s, d, n + 1))
        return min(options)
    return best(0, 0)


def test_against_recursive_reference():
    rng = random.Random(0)
    for _ in range(1500):
        r = tuple(rng.choice("abcde"[:rng.randint(2, 5)]) for _ in range(rng.randint(0, 8)))
        h = tuple(rng.choice("abc") for _ in range(rng.randint(0, 8)))
        a = align(r, h)
        c = a.counts
        assert (c.errors, c.sub, c.dels, c.ins) == _reference_counts(r, h), (r, h)
        # the ops rebuild both sequences
        assert tuple(t for _, t, _ in a.ops if t is not None) == r
        assert tuple(t for _, _, t in a.ops if t is not None) == h


def _random_corpus(rng: random.Random, n: int) -> tuple[list[str], list[str]]:
    vocab = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "cot", "at", "mad"]
    refs, hyps = [], []
    for _ in range(n):
        ref = [rng.choice(vocab) for _ in range(rng.randint(1, 12))]
        hyp = []
        for w in ref:
            u = rng.random()
            if u < 0.1:
                continue  # deletion
            hyp.append(rng.choice(vocab) if u < 0.25 else w)
            if rng.random() < 0.08:
                hyp.append(rng.choice(vocab))  # insertion
        refs.append(" ".join(ref))
        hyps.append(" ".join(hyp))
    return refs, hyps


def test_against_jiwer():
    """Same WER/CER and error totals as jiwer. jiwer (rapidfuzz) may split a total
    differently into S/D/I: our split has the most hits, and is identical whenever the hit
    counts agree (hits fix S, D and I once the total and both lengths are fixed)."""
    rng = random.Random(1)
    refs, hyps = _random_corpus(rng, 300)
    assert wer(refs, hyps) == pytest.approx(jiwer.wer(refs, hyps))
    # jiwer.cer counts every character, spaces included, as we do (texts are single-spaced)
    assert cer(refs, hyps) == pytest.approx(jiwer.cer(refs, hyps))
    same_split = 0
    for unit, process in (("word", jiwer.process_words), ("char", jiwer.process_characters)):
        ours = align_corpus(refs, hyps, unit)
        for a, ref, hyp in zip(ours, refs, hyps, strict=True):
            theirs = process(ref, hyp)
            c = a.counts
            assert c.errors == theirs.substitutions + theirs.deletions + theirs.insertions
            assert c.hits >= theirs.hits
            if c.hits == theirs.hits:
                same_split += 1
                assert (c.sub, c.dels, c.ins) == (theirs.substitutions, theirs.deletions,
                                                  theirs.insertions)
        total = total_counts(ours)
        whole = process(refs, hyps)
        assert total.errors == whole.substitutions + whole.deletions + whole.insertions
        assert total.ref_tokens == whole.hits + whole.substitutions + whole.deletions
    assert same_split > 400  # of 600: the usual case is a single optimal split


def test_cer_counts_spaces():
    # a dropped word costs its letters and one space: 4 of 11 characters
    assert cer(["the cat sat"], ["the sat"]) == pytest.approx(4 / 11)
    assert cer(["ab  cd "], ["abcd"]) == pytest.approx(1 / 5)  # whitespace runs count once


def test_sclite_summary_by_hand():
    refs = ["the cat sat on the mat", "hello world", "", "a b"]
    hyps = ["the cat sit on mat", "hello world", "uh", "b a"]
    total = total_counts(align_corpus(refs, hyps))
    # H/S/D/I per utterance: (4,1,1,0) (2,0,0,0) (0,0,0,1) (1,0,1,1)
    assert total == ErrorCounts(hits=7, sub=1, dels=2, ins=2, sentences=4, sentence_errors=3)
    s = total.summary()
    assert (s["snt"], s["wrd"]) == (4, 10)
    assert [s[k] for k in ("corr", "sub", "del", "ins", "err", "s_err")] == pytest.approx(
        [70.0, 10.0, 20.0, 20.0, 50.0, 75.0])
    assert s["counts"] == {"hits": 7, "sub": 1, "del": 2, "ins": 2, "errors": 5,
                           "sentence_errors": 3}
    assert total.rate == pytest.approx(0.5) == wer(refs, hyps)


def test_empty_references():
    """An empty reference is valid: its hypothesis words are insertions; a set without any
    reference word has rate 0 when nothing was hypothesised, inf otherwise."""
    assert wer(["", "a b"], ["x", "a b"]) == pytest.approx(1 / 2)
    assert wer(["", ""], ["", ""]) == 0.0
    assert wer([""], ["x"]) == math.inf
    s = total_counts(align_corpus([""], [""])).summary()
    assert s["snt"] == 1 and s["err"] == 0.0 and s["s_err"] == 0.0  # silence recognised as silence
    assert total_counts(align_corpus(["a"], [""])).summary()["del"] == 100.0
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        wer(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="unit must be"):
        align_corpus(["a"], ["a"], "phone")


def test_pra_style_alignment():
    a = align("the cat sat on the mat".split(), "the cat sit on mat now".split())
    assert format_alignment("utt1", a) == "\n".join([
        "id: (utt1)",
        "Scores: (#C #S #D #I) 4 1 1 1",
        "REF:  the cat sat on  the mat ***",
        "HYP:  the cat sit on  *** mat now",
        "Eval:         S       D       I",
    ])
