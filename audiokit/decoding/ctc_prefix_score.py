"""Batched CTC prefix scores for joint CTC/attention decoding (Watanabe et al., 2017), in the
spirit of ESPnet's CTCPrefixScoreTH: one state for N hypotheses (e.g. batch x beam), scores for
all or K pre-selected candidate labels per hypothesis, utterances of different lengths.

The recursion. For one utterance with frame log-posteriors x_t(k), t = 1..T, and a label
prefix h, let r_t^n(h) / r_t^b(h) be the log-probability that frames 1..t emit exactly h with
frame t emitting h's last label (n) or a blank (b); r_0 is "before any frame". For the empty
prefix r_0^b = 0, r_t^b = sum_{u<=t} x_u(blank), r_t^n = log 0. For h = g + c:

    phi_t(g, c) = r_t^b(g)                            if c == last(g) (a repeat needs a blank)
                = logaddexp(r_t^b(g), r_t^n(g))       otherwise
    r_t^n(h)    = logaddexp(r_{t-1}^n(h), phi_{t-1}(g, c)) + x_t(c)
    r_t^b(h)    = logaddexp(r_{t-1}^n(h), r_{t-1}^b(h)) + x_t(blank)
    psi(h)      = logsumexp_{t=1..T} [phi_{t-1}(g, c) + x_t(c)]      the prefix score:
                  p(the label sequence of the whole utterance starts with h), split by the frame
                  t where c is first emitted (whatever follows t is free)
    full(h)     = logaddexp(r_T^n(h), r_T^b(h))     p(the label sequence is exactly h): the
                  score of h + <eos>

Computing it. psi is, in the probability domain, a matrix product: with P_t = exp(phi_t - m)
(m = max_t phi_t) and Y_t(c) = exp(x_t(c) - max_t x_t(c)), psi(h + c) = log(P @ Y) + the two
maxima, so all candidates of all hypotheses cost one batched matmul, not an exp per (h, c, t).
(Terms more than ~700 nats below both maxima underflow to 0: such candidates are dead anyway.)
Both r recursions are first-order linear recurrences in the probability domain,
r_t = (r_{t-1} + a_{t-1}) * y_t with r_0 = 0, solved by r_t = sum_{s<=t} a_{s-1} prod_{u=s..t} y_u.
With C_t = sum_{u<=t} log y_u that is r_t = C_t + logcumsumexp_{s<=t}(a_{s-1} - C_{s-1}): a new
state costs a few [N, T] tensor ops instead of a Python loop over frames (ESPnet's
CTCPrefixScoreTH loops over T). States are float64 so that the C_t subtraction stays exact to
~1e-9 even over thousands of frames.

Lengths: frames past an utterance's length become "certain blank" (x(blank) = 0, other labels
log 0): they add nothing to psi and carry r_T = r_len, so full(h) is read at T for every row.
Log 0 is a large negative number, not -inf, so that no inf - inf can turn into NaN.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from audiokit.decoding.ctc_greedy import check_ctc_inputs

LOG_ZERO = -1e10  # log 0 for states and scores
FRAME_FLOOR = -1e4  # log 0 for frame posteriors: exp() underflows to 0, C_t stays small


class CTCPrefixState(NamedTuple):
    """N hypotheses; every field has N on dim 0 (reorder with ``select_state`` or ``advance``)."""

    r: torch.Tensor  # [N, T+1] logaddexp(r_t^n, r_t^b) for t = 0..T
    rb: torch.Tensor  # [N, T+1] r_t^b
    last: torch.Tensor  # [N] last label, -1 for the empty prefix
    utt: torch.Tensor  # [N] the utterance (row of the scorer's log-probs) of each hypothesis


class CTCPrefixScorer:
    """Prefix scores for hypotheses over a batch of CTC outputs.

    log_probs [B, T, V] log-softmax, lens [B]. ``eos``: the label whose score is full(h)
    (the end of the hypothesis); ``blank`` never extends a hypothesis (its score is log 0).
    """

    def __init__(self, log_probs: torch.Tensor, lens: torch.Tensor, blank: int = 0,
                 eos: int | None = None) -> None:
        check_ctc_inputs(log_probs, lens)
        B, T, V = log_probs.shape
        if T == 0:
            raise ValueError("CTC log-probs have no frames")
        self.blank, self.eos, self.vocab_size = blank, eos, V
        x = log_probs.detach().clamp_min(FRAME_FLOOR)
        pad = torch.arange(T, device=x.device) >= lens.to(x.device)[:, None]  # [B, T]
        x = x.masked_fill(pad[..., None], FRAME_FLOOR)
        x[..., blank] = x[..., blank].masked_fill(pad, 0.0)
        self.x = x.transpose(1, 2).contiguous()  # [B, V, T]: a label's frames are contiguous
        x64 = self.x.double()
        self.xmax = x64.amax(-1)  # [B, V]
        self.y = (x64 - self.xmax[..., None]).exp()  # [B, V, T] scaled probabilities
        self._all_utts = torch.arange(B, device=x.device)
        self.cum_blank = F.pad(x64[:, blank].cumsum(-1), (1, 0))  # [B, T+1]: Cb_t, Cb_0 = 0

    def initial_state(self, utt: torch.Tensor) -> CTCPrefixState:
        """One empty-prefix hypothesis for each entry of utt (utterance indices)."""
        utt = utt.to(self.x.device)
        rb = self.cum_blank[utt]  # r_t^b(empty) = sum of blank log-probs up to t; r^n = log 0
        return CTCPrefixState(rb, rb, torch.full_like(utt, -1), utt)

    def score(self, state: CTCPrefixState, cand: torch.Tensor | None = None,
              start: int = 0) -> torch.Tensor:
        """psi(h + c) for each hypothesis h and candidate c: cand [N, K] label ids, or None for
        all V labels. Returns [N, K] (float64); c == eos gives full(h), c == blank log 0.

        ``start``: frames 1..start are skipped, exact when every h has >= start labels
        (a prefix of l labels has probability 0 before frame l).
        """
        r, rb, last, utt = state
        start = min(start, r.size(1) - 2)  # keep at least one frame
        phi, rb_prev = r[:, start:-1], rb[:, start:-1]  # phi_{t-1}(h, c != last), r_{t-1}^b(h)
        m = phi.amax(-1, keepdim=True)  # [N, 1]
        P = (phi - m).exp()[:, None]  # [N, 1, T']
        blocks = self._blocks(utt) if cand is None else None
        if blocks is not None:  # rows in equal consecutive blocks per utterance: one bmm
            u, G = blocks
            y = self.y if torch.equal(u, self._all_utts) else self.y.index_select(0, u)
            s = torch.matmul(P.view(len(u), G, -1), y[..., start:].transpose(1, 2))
            s, xmax = s.view(len(utt), -1), self.xmax[utt]
        else:
            if cand is None:
                cand = torch.arange(self.vocab_size, device=r.device).expand(len(utt), -1)
            s = (self.y[utt[:, None], cand, start:] * P).sum(-1)  # [N, K] (faster than bmm)
            xmax = self.xmax[utt[:, None], cand]
        psi = s.log() + m + xmax
        # c == last(h): only paths whose frame t-1 is blank (phi = r^b).
        prev = last.clamp_min(0)
        y_last = self.y[utt, prev, start:]  # [N, T']
        s_last = ((rb_prev - m).exp() * y_last).sum(-1)
        psi_last = s_last.log() + m.squeeze(-1) + self.xmax[utt, prev]
        if cand is None:
            cand = torch.arange(self.vocab_size, device=r.device).expand(len(utt), -1)
        psi = torch.where(cand == last[:, None], psi_last[:, None], psi).clamp_min(LOG_ZERO)
        if self.eos is not None:
            psi = torch.where(cand == self.eos, self.full_score(state)[:, None], psi)
        return psi.masked_fill(cand == self.blank, LOG_ZERO)

    @staticmethod
    def _blocks(utt: torch.Tensor) -> tuple[torch.Tensor, int] | None:
        """(utterance of each block, block size) if utt is made of equal consecutive blocks."""
        first = torch.ones_like(utt, dtype=torch.bool)
        first[1:] = utt[1:] != utt[:-1]
        n = int(first.sum())
        if len(utt) % n or not bool(first.view(n, -1)[:, 0].all()):
            return None
        return utt[first], len(utt) // n

    def full_score(self, state: CTCPrefixState) -> torch.Tensor:
        """full(h) [N]: log p(the utterance's label sequence is exactly h)."""
        return state.r[:, -1]

    def advance(self, state: CTCPrefixState, parent: torch.Tensor,
                label: torch.Tensor) -> CTCPrefixState:
        """States of the M hypotheses parent[m] + label[m] (parent: rows of ``state``): beam
        pruning and reordering in one step. Use ``select_state`` to reorder without extending."""
        r, rb, last, utt = (s.index_select(0, parent) for s in state)
        C = F.pad(self.x[utt, label].double().cumsum(-1), (1, 0))  # [M, T+1]: C_t of label
        Cb = self.cum_blank[utt]
        phi = torch.where((label == last)[:, None], rb, r)[:, :-1]
        # r_t^n = C_t + logcumsumexp_{s<=t}(phi_{s-1} - C_{s-1}), t = 1..T; r_0^n = log 0.
        rn = C[:, 1:] + torch.logcumsumexp(phi - C[:, :-1], dim=1)
        rn = F.pad(rn.clamp_min(LOG_ZERO), (1, 0), value=LOG_ZERO)
        # r_t^b = Cb_t + logcumsumexp_{s<=t}(r_{s-1}^n - Cb_{s-1}); r_0^b = log 0.
        rb = Cb[:, 1:] + torch.logcumsumexp(rn[:, :-1] - Cb[:, :-1], dim=1)
        rb = F.pad(rb.clamp_min(LOG_ZERO), (1, 0), value=LOG_ZERO)
        return CTCPrefixState(torch.logaddexp(rn, rb), rb, label.clone(), utt)
