"""Batched joint CTC/attention beam search with optional LM shallow fusion
(Watanabe et al., 2017; the scoring follows ESPnet's BatchBeamSearch).

A hypothesis h is extended by a label c with

    score(h + c) = score(h) + (1 - ctc_weight) * log p_att(c | h, x)
                            + ctc_weight * (psi(h + c) - psi(h))      CTC prefix score, see
                            + lm_weight * log p_lm(c | h)             ctc_prefix_score.py
                            + length_bonus                            (not for <eos>)

so that a finished hypothesis scores (1 - w) * log p_att(y) + w * log p_ctc(y)
+ lm_weight * log p_lm(y) + length_bonus * |y|. All B utterances x ``beam`` hypotheses are
scored at once: rows are utterance-major (``beam`` rows per utterance); an utterance leaves the
batch as soon as it is finished, so batched and one-by-one decoding give the same results.

Modules (see the interfaces brief):
    decoder.step(ys [N, L], state, memory [N, T, D], memory_lens [N]) -> (logp [N, V], state)
    lm.step(ys [N, L], state) -> (logp [N, V], state)
ys starts with <sos>; state is None, a tensor or nested lists/tuples of tensors with N on dim 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from audiokit.decoding.ctc_prefix_score import CTCPrefixScorer

NEG_INF = float("-inf")


@dataclass
class Hypothesis:
    """A finished hypothesis: tokens without <sos>/<eos>, the total score and the unweighted
    component log-probabilities ("att", "ctc", "lm": each present when used)."""

    tokens: list[int]
    score: float
    scores: dict[str, float] = field(default_factory=dict)


def select_state(state, index: torch.Tensor):
    """Rows ``index`` of a decoder/LM/CTC state: None, a tensor, or nested lists/tuples
    (named tuples included) of tensors with the hypotheses on dim 0."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.index_select(0, index)
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(select_state(s, index) for s in state))
    if isinstance(state, (list, tuple)):
        return type(state)(select_state(s, index) for s in state)
    raise TypeError(f"cannot reorder a state of type {type(state).__name__}")


class JointBeamSearch:
    """Joint CTC/attention beam search over a batch; ``__call__`` returns, per utterance,
    up to ``nbest`` :class:`Hypothesis`, best first.

    ctc_weight: 0 = attention only (no CTC needed); 1 = CTC prefix search (no decoder needed).
    pre_beam_ratio: when both CTC and the decoder are used, only the int(ratio * beam) best
        labels by the other scores (attention, LM, bonus) get CTC prefix scores (ESPnet's
        "full" pre-beam); with ctc_weight = 1 all labels are scored, as in ESPnet.
    max_len_ratio: at most int(ratio * T_enc) labels (at least 1); 0 = T_enc labels.
    normalize_length: rank finished hypotheses by score / (len(tokens) + 1).
    An utterance is finished once it has ``beam`` finished hypotheses and no running one can
    still beat its ``nbest``-th best (all increments are <= 0 apart from a positive
    length_bonus, which the bound allows for), or when it reaches its maximum length.
    """

    def __init__(self, vocab_size: int, beam: int = 10, ctc_weight: float = 0.3,
                 lm_weight: float = 0.0, length_bonus: float = 0.0, max_len_ratio: float = 0.0,
                 nbest: int = 1, normalize_length: bool = False, pre_beam_ratio: float = 1.5,
                 sos_id: int | None = None, blank_id: int = 0) -> None:
        if not 0.0 <= ctc_weight <= 1.0:
            raise ValueError(f"ctc_weight must be in [0, 1], got {ctc_weight}")
        if lm_weight < 0:
            raise ValueError(f"lm_weight must be >= 0, got {lm_weight}")
        if not 1 <= nbest <= beam:
            raise ValueError(f"need 1 <= nbest <= beam, got nbest={nbest}, beam={beam}")
        self.vocab_size, self.beam, self.nbest = vocab_size, beam, nbest
        self.ctc_weight, self.lm_weight, self.length_bonus = ctc_weight, lm_weight, length_bonus
        self.max_len_ratio, self.normalize_length = max_len_ratio, normalize_length
        self.pre_beam = int(pre_beam_ratio * beam)
        self.eos = vocab_size - 1 if sos_id is None else sos_id
        self.blank = blank_id

    def _key(self, score, length):
        """The ranking key of a finished hypothesis with `length` tokens (floats or tensors)."""
        return score / (length + 1) if self.normalize_length else score

    @torch.no_grad()
    def __call__(self, memory: torch.Tensor | None, memory_lens: torch.Tensor,
                 ctc_log_probs: torch.Tensor | None = None, decoder=None,
                 lm=None) -> list[list[Hypothesis]]:
        W, V, eos, lam = self.beam, self.vocab_size, self.eos, self.ctc_weight
        use_att, use_ctc = lam < 1.0, lam > 0.0
        use_lm = lm is not None and self.lm_weight > 0
        if use_att and (decoder is None or memory is None):
            raise ValueError(f"ctc_weight={lam} < 1 needs a decoder and its memory")
        if use_ctc and ctc_log_probs is None:
            raise ValueError(f"ctc_weight={lam} > 0 needs CTC log-probs")
        if use_ctc and ctc_log_probs.size(-1) != V:
            raise ValueError(f"CTC log-probs have {ctc_log_probs.size(-1)} labels, vocab is {V}")
        B = memory_lens.numel()
        if use_att and memory.size(0) != B:
            raise ValueError(f"memory has {memory.size(0)} utterances, memory_lens {B}")
        dev = (memory if memory is not None else ctc_log_probs).device
        lens = memory_lens.to(dev).long()
        if self.max_len_ratio > 0:
            maxlen = (lens.double() * self.max_len_ratio).long().clamp_min(1)
        else:
            maxlen = lens.clone()

        # Running hypotheses: W rows per utterance; all but one start dead (score -inf).
        utt = torch.arange(B, device=dev).repeat_interleave(W)  # utterance of each row
        ys = torch.full((B * W, 1), eos, dtype=torch.long, device=dev)
        score = torch.zeros(B, W, dtype=torch.float64, device=dev)
        score[:, 1:] = NEG_INF
        score = score.flatten()
        comp = {k: torch.zeros(B * W, dtype=torch.float64, device=dev)
                for k, used in (("att", use_att), ("ctc", use_ctc), ("lm", use_lm)) if used}
        mem = mem_lens = dec_state = lm_state = ctc = ctc_state = None
        if use_att:
            mem, mem_lens = memory.repeat_interleave(W, 0), lens.repeat_interleave(W)
        if use_ctc:
            ctc = CTCPrefixScorer(ctc_log_probs, lens, self.blank, eos)
            ctc_state = ctc.initial_state(utt)
        bonus = torch.full((V,), self.length_bonus, dtype=torch.float64, device=dev)
        bonus[eos] = 0.0
        not_eos = torch.arange(V, device=dev) != eos
        ended: list[list[Hypothesis]] = [[] for _ in range(B)]
        n_ended = torch.zeros(B, dtype=torch.long, device=dev)
        kth = torch.full((B,), NEG_INF, dtype=torch.float64, device=dev)  # nbest-th ended key

        for i in range(int(maxlen.max()) + 1 if B else 0):  # i = labels in each hypothesis
            N = ys.size(0)
            nb = N // W
            # Label scores that need no CTC: [N, V].
            wsum = bonus.expand(N, V).clone()
            logp = {}
            if use_att:
                logp["att"], dec_state = decoder.step(ys, dec_state, mem, mem_lens)
                wsum += (1 - lam) * logp["att"].double()
            if use_lm:
                logp["lm"], lm_state = lm.step(ys, lm_state)
                wsum += self.lm_weight * logp["lm"].double()
            wsum[:, self.blank] = NEG_INF
            # A hypothesis at its utterance's maximum length may only end.
            wsum.masked_fill_((i >= maxlen[utt])[:, None] & not_eos, NEG_INF)
            cand = None  # the candidate labels of each row; None = all V
            if use_ctc:
                if use_att and self.pre_beam < V:
                    cand = wsum.topk(self.pre_beam, dim=1).indices  # [N, K]
                    wsum = wsum.gather(1, cand)
                psi = ctc.score(ctc_state, cand, start=i)
                wsum += lam * (psi - comp["ctc"][:, None])
            K = wsum.size(1)

            # Best W of the W x K extensions of each utterance's rows.
            top, flat = (score[:, None] + wsum).view(nb, W * K).topk(W, dim=1)
            parent = (flat // K + torch.arange(nb, device=dev)[:, None] * W).flatten()
            col = (flat % K).flatten()
            label = col if cand is None else cand[parent, col]
            score = top.flatten()
            comp = {k: v[parent] for k, v in comp.items()}
            for k, lp in logp.items():
                comp[k] += lp[parent, label].double()
            if use_ctc:
                comp["ctc"] = psi[parent, col]

            # Hypotheses that chose <eos> are finished; their rows die.
            is_eos = label == eos
            done_rows = (is_eos & torch.isfinite(score)).nonzero().squeeze(1)
            if len(done_rows):
                src = parent[done_rows]
                self._collect(ended, n_ended, kth, utt[src], ys[src, 1:], score[done_rows],
                              {k: v[done_rows] for k, v in comp.items()})
            score = score.masked_fill(is_eos, NEG_INF)

            # An utterance is done when no running hypothesis can beat its nbest-th ended one.
            alive = torch.isfinite(score)
            row_max = maxlen[utt]
            best_final = torch.maximum(  # the key is monotonic in the final length
                self._key(score, i + 1),
                self._key(score + max(self.length_bonus, 0.0) * (row_max - i - 1), row_max))
            best_final = best_final.masked_fill(~alive, NEG_INF).view(nb, W).amax(1)
            block_utt = utt.view(nb, W)[:, 0]
            done = ~alive.view(nb, W).any(1) | ((n_ended[block_utt] >= self.nbest)
                                                & (best_final < kth[block_utt]))
            if bool(done.all()):
                break

            # Keep the rows of unfinished utterances, append the new labels, reorder states.
            if bool(done.any()):
                keep = (~done).repeat_interleave(W)
                parent, label, score = parent[keep], label[keep], score[keep]
                comp = {k: v[keep] for k, v in comp.items()}
                if use_att:  # rows of one utterance share their memory: no per-step copy
                    mem, mem_lens = mem[keep], mem_lens[keep]
            utt = utt[parent]
            ys = torch.cat([ys[parent], label[:, None]], dim=1)
            dec_state = select_state(dec_state, parent)
            lm_state = select_state(lm_state, parent)
            if use_ctc:
                ctc_state = ctc.advance(ctc_state, parent, label)

        for hyps in ended:
            hyps.sort(key=lambda h: self._key(h.score, len(h.tokens)), reverse=True)
            del hyps[self.nbest:]
        return ended

    def _collect(self, ended: list[list[Hypothesis]], n_ended: torch.Tensor, kth: torch.Tensor,
                 utts: torch.Tensor, tokens: torch.Tensor, scores: torch.Tensor,
                 comps: dict[str, torch.Tensor]) -> None:
        """Store finished hypotheses and update each utterance's nbest-th best key."""
        comps = {k: v.tolist() for k, v in comps.items()}
        for j, (u, toks, s) in enumerate(zip(utts.tolist(), tokens.tolist(), scores.tolist(),
                                                  strict=True)):
            ended[u].append(Hypothesis(toks, s, {k: v[j] for k, v in comps.items()}))
        for u in set(utts.tolist()):
            n_ended[u] = len(ended[u])
            if len(ended[u]) >= self.nbest:
                keys = sorted((self._key(h.score, len(h.tokens)) for h in ended[u]), reverse=True)
                kth[u] = keys[self.nbest - 1]
