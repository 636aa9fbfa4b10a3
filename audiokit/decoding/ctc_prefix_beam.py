"""CTC prefix beam search (Graves 2012; Hannun et al. 2014), one utterance at a time.

Each hypothesis is a label prefix h with two log-probabilities over the frames seen so far:
pb(h) (the last frame was blank) and pnb(h) (the last frame emitted h's last label). At each
frame t, with x = log-posteriors of frame t and tot(h) = logaddexp(pb, pnb):
  h stays h:     pb'(h)  = tot(h) + x[blank]
                 pnb'(h) = pnb(h) + x[last(h)]        (the last label is repeated and collapses)
  h becomes h+c: pnb'(h+c) += tot(h) + x[c]           (c != last(h))
                 pnb'(h+c) += pb(h) + x[c]            (c == last(h): needs a blank in between)
then the `beam` prefixes with the largest tot' survive. With a beam as large as the number of
prefixes the search is exact: tot(h) at the last frame is p(collapse(alignment) == h).
"""

from __future__ import annotations

import torch

from audiokit.decoding.ctc_greedy import check_ctc_inputs

NEG_INF = float("-inf")


def ctc_prefix_beam_search(
    log_probs: torch.Tensor, lens: torch.Tensor, beam: int, blank: int = 0, nbest: int = 1
) -> list[list[tuple[list[int], float]]]:
    """log_probs [B, T, V] log-softmax, lens [B] -> per utterance, the `nbest` best
    (token ids, log p(ids | x)) pairs, best first."""
    check_ctc_inputs(log_probs, lens)
    if beam < 1 or nbest < 1:
        raise ValueError(f"beam ({beam}) and nbest ({nbest}) must be >= 1")
    x = log_probs.detach().to("cpu", torch.float64)
    return [_search(x[b, : int(n)], beam, blank, nbest) for b, n in enumerate(lens.tolist())]


def _search(x: torch.Tensor, beam: int, blank: int, nbest: int) -> list[tuple[list[int], float]]:
    V = x.size(1)
    prefixes: list[tuple[int, ...]] = [()]
    pb = torch.zeros(1, dtype=x.dtype)  # before any frame the empty prefix has probability 1
    pnb = torch.full((1,), NEG_INF, dtype=x.dtype)
    last = torch.full((1,), -1)  # last label of each prefix, -1 for the empty one
    for xt in x:
        tot = torch.logaddexp(pb, pnb)
        stay_b = tot + xt[blank]
        stay_nb = pnb + torch.where(last >= 0, xt[last.clamp_min(0)], NEG_INF)
        ext = torch.where(torch.arange(V) == last[:, None], pb[:, None], tot[:, None]) + xt
        ext[:, blank] = NEG_INF
        # h+c may already be in the beam: fold its new path mass into that hypothesis.
        index = {p: i for i, p in enumerate(prefixes)}
        for j, p in enumerate(prefixes):
            i = index.get(p[:-1]) if p else None
            if i is not None:
                stay_nb[j] = torch.logaddexp(stay_nb[j], ext[i, p[-1]])
                ext[i, p[-1]] = NEG_INF
        # Candidates: H hypotheses that stay, then H x V extensions (all distinct prefixes).
        cand = torch.cat([torch.logaddexp(stay_b, stay_nb), ext.flatten()])
        top = cand.topk(min(beam, int(torch.isfinite(cand).sum()))).indices.tolist()
        H = len(prefixes)
        new_p, new_b, new_nb, new_last = [], [], [], []
        for k in top:
            if k < H:  # prefix unchanged
                new_p.append(prefixes[k])
                new_b.append(stay_b[k])
                new_nb.append(stay_nb[k])
                new_last.append(int(last[k]))
            else:
                i, c = divmod(k - H, V)
                new_p.append(prefixes[i] + (c,))
                new_b.append(torch.tensor(NEG_INF, dtype=x.dtype))
                new_nb.append(ext[i, c])
                new_last.append(c)
        prefixes, pb, pnb = new_p, torch.stack(new_b), torch.stack(new_nb)
        last = torch.tensor(new_last)
    tot = torch.logaddexp(pb, pnb)
    order = tot.argsort(descending=True)[:nbest].tolist()
    return [(list(prefixes[k]), float(tot[k])) for k in order]
