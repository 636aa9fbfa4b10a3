"""ASR decoding algorithms, independent of any model: they take tensors and modules with the
``step`` API (see :mod:`audiokit.decoding.beam_search`).

- :func:`ctc_greedy`: CTC best path.
- :func:`ctc_prefix_beam_search`: CTC prefix beam search (per utterance).
- :class:`CTCPrefixScorer`: batched CTC prefix scores for joint CTC/attention decoding.
- :class:`JointBeamSearch`: batched joint CTC/attention beam search with optional LM fusion.
"""

from audiokit.decoding.beam_search import Hypothesis, JointBeamSearch, select_state
from audiokit.decoding.ctc_greedy import ctc_greedy
from audiokit.decoding.ctc_prefix_beam import ctc_prefix_beam_search
from audiokit.decoding.ctc_prefix_score import CTCPrefixScorer, CTCPrefixState

__all__ = [
    "CTCPrefixScorer",
    "CTCPrefixState",
    "Hypothesis",
    "JointBeamSearch",
    "ctc_greedy",
    "ctc_prefix_beam_search",
    "select_state",
]
