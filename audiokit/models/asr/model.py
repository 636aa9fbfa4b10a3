"""The ASR network: an encoder with a CTC head and, optionally, an attention decoder."""

from __future__ import annotations

from dataclasses import dataclass, field

from hydra.utils import instantiate
from torch import Tensor, nn


@dataclass
class EncoderOutput:
    hidden: Tensor                 # [B, T', D]
    lens: Tensor                   # [B]
    ctc_log_probs: Tensor          # [B, T', V]
    intermediate_log_probs: list[Tensor] = field(default_factory=list)  # intermediate CTC


class ASRModel(nn.Module):
    """CTC-only (``decoder: null``), attention, or hybrid CTC/attention (Watanabe et al. 2017).

    ``encoder`` and ``decoder`` are configs (``_target_`` dicts) built here, because their
    sizes depend on the frontend (``input_dim``) and the token list (``vocab_size``).
    Intermediate CTC layers share the final CTC head, as in Lee & Watanabe (2021).
    """

    def __init__(self, input_dim: int, vocab_size: int, encoder: dict,
                 decoder: dict | None = None) -> None:
        super().__init__()
        self.encoder = instantiate(encoder, input_dim=input_dim)
        self.ctc_head = nn.Linear(self.encoder.output_dim, vocab_size)
        self.decoder = (instantiate(decoder, vocab_size=vocab_size,
                                    memory_dim=self.encoder.output_dim) if decoder else None)
        self.vocab_size = vocab_size

    @property
    def min_input_frames(self) -> int:
        """Fewest feature frames the encoder needs to emit one output frame."""
        return getattr(self.encoder, "min_input_frames", 1)

    def encode(self, feats: Tensor, lens: Tensor, intermediate: bool = False) -> EncoderOutput:
        if intermediate:
            hidden, hidden_lens, inner = self.encoder(feats, lens, return_intermediate=True)
        else:
            (hidden, hidden_lens), inner = self.encoder(feats, lens), []
        return EncoderOutput(hidden, hidden_lens, self.ctc_head(hidden).log_softmax(-1),
                             [self.ctc_head(h).log_softmax(-1) for h in inner])
