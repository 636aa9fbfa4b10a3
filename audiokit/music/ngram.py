"""Interpolated Kneser-Ney n-gram LM over event tokens: the baseline the Music Transformers
must beat (NLL per token on the same ``<sos> events <eos>`` framing: every token after
``<sos>`` is predicted, ``<eos>`` included).

With one discount ``D`` for every order (Chen & Goodman 1998, interpolated KN):

    P(w | h) = max(c(h w) - D, 0) / c(h) + D * N1+(h .) / c(h) * P(w | h')

where ``h'`` drops the oldest token of ``h``; ``c`` is the raw count at the highest order and
the continuation count ``N1+(. h w)`` (distinct tokens seen before ``h w``) below it;
``N1+(h .)`` is the number of distinct tokens seen after ``h``. A history never seen passes
all its mass down. The unigram level interpolates the same way with the uniform distribution
over the vocabulary, so no token has probability zero.

    python -m audiokit.music.ngram --train data/train/events --valid data/valid/events \\
        --test data/test/events --out exp/ngram [--orders 2,3,4,5,6,8,10,12,16] [--transpose 3]

picks the order (and discount) with the lowest valid NLL and writes ``OUT/infer/test/nll`` and
``nll.json`` in the format of ``audiokit-infer`` (``audiokit-score task=music`` reads them).
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter, defaultdict
from pathlib import Path

from audiokit.data.datadir import read_kaldi_map
from audiokit.music.events import transpose_events

SOS, EOS = "<sos>", "<eos>"


class KneserNey:
    def __init__(self, order: int, discount: float = 0.75, vocab: set[str] | None = None) -> None:
        if order < 1 or not 0 < discount < 1:
            raise ValueError(f"order >= 1 and 0 < discount < 1, got {order}, {discount}")
        self.order, self.d = order, discount
        self.vocab = set(vocab or ()) | {EOS}
        # counts[k][(h, w)] for histories of length k: raw at the top order, continuation below
        self.counts: list[Counter] = [Counter() for _ in range(order)]
        self.hist_total: list[Counter] = [Counter() for _ in range(order)]   # sum_w counts
        self.hist_types: list[Counter] = [Counter() for _ in range(order)]   # N1+(h .)

    def fit(self, sequences: list[list[str]]) -> KneserNey:
        top = Counter()
        for seq in sequences:
            self.vocab.update(seq)
            padded = [SOS] * (self.order - 1) + list(seq) + [EOS]
            for i in range(self.order - 1, len(padded)):
                top[tuple(padded[i - self.order + 1:i + 1])] += 1
        self.counts[self.order - 1] = Counter({(g[:-1], g[-1]): c for g, c in top.items()})
        # lower orders: continuation counts N1+(. h w) = distinct left extensions
        grams = set(top)
        for k in range(self.order - 2, -1, -1):
            cont = Counter((g[1:-1], g[-1]) for g in grams)
            self.counts[k] = cont
            grams = {g[1:] for g in grams}
        for k in range(self.order):
            for (h, _), c in self.counts[k].items():
                self.hist_total[k][h] += c
                self.hist_types[k][h] += 1
        return self

    def prob(self, history: tuple[str, ...], w: str) -> float:
        """P(w | the last order-1 tokens of history)."""
        history = tuple(history[-(self.order - 1):]) if self.order > 1 else ()
        p = 1.0 / len(self.vocab)
        for k in range(self.order):  # from the unigram level up
            h = history[len(history) - k:] if k else ()
            if len(h) < k:
                break
            total = self.hist_total[k].get(h, 0)
            if total == 0:
                continue  # unseen history: all its mass goes to the lower order
            c = self.counts[k].get((h, w), 0)
            p = max(c - self.d, 0) / total + self.d * self.hist_types[k][h] / total * p
        return p

    def nll(self, seq: list[str]) -> tuple[float, int]:
        """(summed NLL in nats, tokens) of ``seq`` then ``<eos>``, after ``<sos>``."""
        padded = [SOS] * (self.order - 1) + list(seq) + [EOS]
        total = 0.0
        for i in range(self.order - 1, len(padded)):
            total -= math.log(self.prob(tuple(padded[max(0, i - self.order + 1):i]), padded[i]))
        return total, len(seq) + 1


def read_pieces(path: str | Path) -> dict[str, list[str]]:
    return {pid: text.split() for pid, text in read_kaldi_map(path).items()}


def transposed(pieces: list[list[str]], semitones: int) -> list[list[str]]:
    """Every piece at each shift in [-semitones, semitones] that keeps its pitches in 0..127."""
    out = []
    for seq in pieces:
        pitches = [int(e[2:]) for e in seq if e.startswith("on")]
        for k in range(-semitones, semitones + 1):
            if not pitches or (min(pitches) + k >= 0 and max(pitches) + k <= 127):
                out.append(transpose_events(seq, k))
    return out


def corpus_nll(model: KneserNey, pieces: dict[str, list[str]]) -> tuple[dict[str, tuple[float, int]], float]:
    per = {pid: model.nll(seq) for pid, seq in pieces.items()}
    return per, sum(v[0] for v in per.values()) / sum(v[1] for v in per.values())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m audiokit.music.ngram", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", required=True)
    p.add_argument("--valid", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--orders", default="2,3,4,5,6,8,10,12,16")
    p.add_argument("--discounts", default="0.5,0.75,0.9")
    p.add_argument("--transpose", type=int, default=3, help="train on every shift in +-N (0: none)")
    p.add_argument("--vocab", help="tokens.txt of the token dir (default: tokens seen)")
    args = p.parse_args(argv)
    train = list(read_pieces(args.train).values())
    train = transposed(train, args.transpose) if args.transpose else train
    valid, test = read_pieces(args.valid), read_pieces(args.test)
    vocab = None
    if args.vocab:
        vocab = {t for t in Path(args.vocab).read_text().split() if not t.startswith("<")}
    grid = defaultdict(dict)
    best = None
    for n in map(int, args.orders.split(",")):
        for d in map(float, args.discounts.split(",")):
            model = KneserNey(n, d, vocab).fit(train)
            _, v = corpus_nll(model, valid)
            grid[n][d] = v
            print(f"  {n}-gram, D={d}: valid NLL {v:.4f} nats per token")
            if best is None or v < best[0]:
                best = (v, n, d, model)
    v, n, d, model = best
    per, t = corpus_nll(model, test)
    out = Path(args.out) / "infer" / "test"
    out.mkdir(parents=True, exist_ok=True)
    (out / "nll").write_text("".join(f"{pid} {s:.6f} {c}\n" for pid, (s, c) in per.items()))
    summary = {"nll_per_token": t, "num_tokens": sum(c for _, c in per.values()),
               "num_pieces": len(per), "model": f"interpolated Kneser-Ney {n}-gram, D={d}",
               "order": n, "discount": d, "valid_nll_per_token": v, "transpose": args.transpose,
               "valid_grid": {str(k): {str(kk): vv for kk, vv in g.items()} for k, g in grid.items()},
               "data_dir": str(Path(args.test).parent)}
    (out / "nll.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"  chosen on valid: {n}-gram, D={d}; test NLL {t:.4f} nats per token -> {out}/nll")


if __name__ == "__main__":
    main()
