"""Word and character error rates, with sclite-style summaries and alignments.

Alignment: Levenshtein over tokens (words for WER, characters for CER), every error costing
one. Among the alignments with the fewest errors the one with the most correct tokens (fewest
substitutions) is kept: sclite's costs (insertion 3, deletion 3, substitution 4) lean the same
way. The error count, hence WER and CER, is the edit distance and equals jiwer's; jiwer
(rapidfuzz) may split the same total differently into substitutions, deletions and insertions.

Rates are corpus-level: all errors over all reference tokens, not a mean of per-utterance
rates. The sentence error rate (sclite's S.Err) is the share of utterances with any error.

CER counts characters of the text with its words joined by single spaces, the space included
(ESPnet scores CER with sclite over char tokens in which the space is ``<space>``; jiwer.cer
also keeps spaces). So a missing word costs its letters plus one space.

Empty texts: an empty reference is a valid utterance (every hypothesis token is an insertion;
an empty hypothesis for it is correct). If a whole set has no reference token, its rate is
0.0 without errors and ``inf`` with any (jiwer instead returns the insertion count).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

GAP = "*"  # sclite writes a gap as asterisks the width of the other side's word


@dataclass(frozen=True)
class ErrorCounts:
    """Token and sentence counts over one or more utterances."""

    hits: int = 0
    sub: int = 0
    dels: int = 0
    ins: int = 0
    sentences: int = 0
    sentence_errors: int = 0

    @property
    def ref_tokens(self) -> int:
        return self.hits + self.sub + self.dels

    @property
    def hyp_tokens(self) -> int:
        return self.hits + self.sub + self.ins

    @property
    def errors(self) -> int:
        return self.sub + self.dels + self.ins

    @property
    def rate(self) -> float:
        """Errors per reference token (WER or CER, as a fraction)."""
        return _ratio(self.errors, self.ref_tokens)

    @property
    def sentence_error_rate(self) -> float:
        return self.sentence_errors / self.sentences if self.sentences else 0.0

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(self.hits + other.hits, self.sub + other.sub, self.dels + other.dels,
                           self.ins + other.ins, self.sentences + other.sentences,
                           self.sentence_errors + other.sentence_errors)

    def summary(self) -> dict:
        """sclite's summary line: Snt, Wrd (reference tokens) and percentages of Wrd for Corr,
        Sub, Del, Ins, Err; S.Err in percent of sentences; plus the raw counts."""
        n = self.ref_tokens
        return {
            "snt": self.sentences, "wrd": n,
            "corr": 100 * _ratio(self.hits, n), "sub": 100 * _ratio(self.sub, n),
            "del": 100 * _ratio(self.dels, n), "ins": 100 * _ratio(self.ins, n),
            "err": 100 * _ratio(self.errors, n), "s_err": 100 * self.sentence_error_rate,
            "counts": {"hits": self.hits, "sub": self.sub, "del": self.dels, "ins": self.ins,
                       "errors": self.errors, "sentence_errors": self.sentence_errors},
        }


def _ratio(count: int, total: int) -> float:
    if total:
        return count / total
    return 0.0 if count == 0 else math.inf


@dataclass(frozen=True)
class Alignment:
    """One utterance's alignment: ``ops`` are ``(op, ref_token, hyp_token)`` with op one of
    ``C`` (correct), ``S``, ``D`` (ref_token only) and ``I`` (hyp_token only)."""

    ops: tuple[tuple[str, str | None, str | None], ...]

    @property
    def counts(self) -> ErrorCounts:
        n = {op: 0 for op in "CSDI"}
        for op, _, _ in self.ops:
            n[op] += 1
        errors = n["S"] + n["D"] + n["I"]
        return ErrorCounts(n["C"], n["S"], n["D"], n["I"], 1, int(errors > 0))


_DIAG, _DEL, _INS = 0, 1, 2


def _backpointers(ref: np.ndarray, hyp: np.ndarray) -> np.ndarray:
    """For every cell of the edit matrix, the step that reaches it best (``_DIAG``, ``_DEL``
    or ``_INS``, preferred in that order on ties); one byte per cell.

    Costs: insertion = deletion = k, substitution = k + 1, match = 0, with k larger than any
    possible substitution count, so a path costs k * errors + substitutions: the minimum has
    the fewest errors, then the fewest substitutions. Row by row in numpy: the left-to-right
    chain of insertions is a running minimum.
    """
    n, m = len(ref), len(hyp)
    k = min(n, m) + 1
    ramp = k * np.arange(m + 1, dtype=np.int64)
    prev = ramp.copy()
    back = np.empty((n + 1, m + 1), dtype=np.uint8)
    back[0] = _INS
    back[:, 0] = _DEL
    no_ins = np.empty(m + 1, dtype=np.int64)
    for i in range(1, n + 1):
        diag = prev[:-1] + np.where(hyp == ref[i - 1], 0, k + 1)
        dele = prev[1:] + k
        no_ins[0] = prev[0] + k
        np.minimum(diag, dele, out=no_ins[1:])
        row = np.minimum.accumulate(no_ins - ramp) + ramp
        back[i, 1:] = np.where(row[1:] == diag, _DIAG, np.where(row[1:] == dele, _DEL, _INS))
        prev = row
    return back


def align(ref: Sequence[str], hyp: Sequence[str]) -> Alignment:
    """Align two token sequences (see the module docstring for which alignment)."""
    ref, hyp = list(ref), list(hyp)
    # a common prefix and suffix are always matched: align only the middle
    p = 0
    while p < min(len(ref), len(hyp)) and ref[p] == hyp[p]:
        p += 1
    s = 0
    while s < min(len(ref), len(hyp)) - p and ref[-1 - s] == hyp[-1 - s]:
        s += 1
    r, h = ref[p:len(ref) - s], hyp[p:len(hyp) - s]
    middle: list[tuple[str, str | None, str | None]] = []
    if not r or not h:
        middle = [("D", t, None) for t in r] + [("I", None, t) for t in h]
    else:
        vocab: dict[str, int] = {}
        ri = np.array([vocab.setdefault(t, len(vocab)) for t in r])
        hi = np.array([vocab.setdefault(t, len(vocab)) for t in h])
        back = _backpointers(ri, hi)
        i, j = len(r), len(h)
        while i or j:  # from the end back to the start
            step = back[i, j]
            if step == _DIAG:
                middle.append(("C" if ri[i - 1] == hi[j - 1] else "S", r[i - 1], h[j - 1]))
                i, j = i - 1, j - 1
            elif step == _DEL:
                middle.append(("D", r[i - 1], None))
                i -= 1
            else:
                middle.append(("I", None, h[j - 1]))
                j -= 1
        middle.reverse()
    ops = ([("C", t, t) for t in ref[:p]] + middle
           + [("C", t, t) for t in ref[len(ref) - s:]])
    return Alignment(tuple(ops))


def words(text: str) -> list[str]:
    return text.split()


def chars(text: str) -> list[str]:
    """Characters of ``text`` with whitespace runs collapsed to one space (counted in CER)."""
    return list(" ".join(text.split()))


def align_corpus(refs: Sequence[str], hyps: Sequence[str], unit: str = "word") -> list[Alignment]:
    """Per-utterance alignments of texts split into ``unit`` tokens: 'word' or 'char'."""
    if len(refs) != len(hyps):
        raise ValueError(f"align_corpus: {len(refs)} references but {len(hyps)} hypotheses")
    split = {"word": words, "char": chars}.get(unit)
    if split is None:
        raise ValueError(f"align_corpus: unit must be 'word' or 'char', not {unit!r}")
    return [align(split(r), split(h)) for r, h in zip(refs, hyps, strict=True)]


def total_counts(alignments: Iterable[Alignment]) -> ErrorCounts:
    total = ErrorCounts()
    for a in alignments:
        total = total + a.counts
    return total


def word_errors(ref: str, hyp: str) -> int:
    """Word errors of one utterance (the WER numerator): the word-level edit distance."""
    return align(words(ref), words(hyp)).counts.errors


def wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus word error rate (fraction) of whitespace-split texts."""
    return total_counts(align_corpus(refs, hyps, "word")).rate


def cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus character error rate (fraction), spaces between words counted."""
    return total_counts(align_corpus(refs, hyps, "char")).rate


def format_alignment(utt: str, alignment: Alignment) -> str:
    """sclite ``pra``-style block: id, scores, REF/HYP columns (gaps as ``***``) and Eval."""
    ref_cells, hyp_cells, eval_cells = [], [], []
    for op, r, h in alignment.ops:
        width = max(len(r or ""), len(h or ""), 3)
        ref_cells.append((r or GAP * width).ljust(width))
        hyp_cells.append((h or GAP * width).ljust(width))
        eval_cells.append(("" if op == "C" else op).ljust(width))
    c = alignment.counts
    return "\n".join([
        f"id: ({utt})",
        f"Scores: (#C #S #D #I) {c.hits} {c.sub} {c.dels} {c.ins}",
        ("REF:  " + " ".join(ref_cells)).rstrip(),
        ("HYP:  " + " ".join(hyp_cells)).rstrip(),
        ("Eval: " + " ".join(eval_cells)).rstrip(),
    ])
