"""The hybrid CTC/attention objective (Watanabe et al. 2017), with intermediate CTC."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.losses.label_smoothing import label_smoothing_kl


class HybridCTCAttentionLoss(nn.Module):
    """``ctc_weight * ctc + (1 - ctc_weight) * attention``; with ``interctc_weight`` > 0 the
    CTC term is ``(1 - w) * ctc + w * mean(intermediate ctc)``.

    As in ESPnet (``length_normalized_loss: false``), each term is summed over an utterance's
    tokens (or frames) and averaged over utterances. The attention term is label-smoothed over
    the target tokens + eos; padding is ``ignore_index`` (-1). ``smoothing_form`` picks how:
    ``"torch"``, PyTorch's cross-entropy with eps spread over all V classes, or ``"espnet"``,
    ESPnet's KL divergence with eps / (V - 1) on the non-target classes
    (:mod:`audiokit.losses.label_smoothing`), whose logged values set beside ESPnet's.
    """

    def __init__(self, ctc_weight: float = 0.3, label_smoothing: float = 0.1,
                 interctc_weight: float = 0.0, blank_id: int = 0,
                 smoothing_form: str = "torch") -> None:
        super().__init__()
        if not 0.0 <= ctc_weight <= 1.0:
            raise ValueError(f"ctc_weight must be in [0, 1], got {ctc_weight}")
        if smoothing_form not in ("torch", "espnet"):
            raise ValueError(f"smoothing_form must be 'torch' or 'espnet', got {smoothing_form!r}")
        self.ctc_weight, self.label_smoothing = ctc_weight, label_smoothing
        self.smoothing_form = smoothing_form
        self.interctc_weight, self.blank_id = interctc_weight, blank_id

    @property
    def uses_ctc(self) -> bool:
        return self.ctc_weight > 0

    @property
    def uses_attention(self) -> bool:
        return self.ctc_weight < 1

    def ctc(self, log_probs: Tensor, lens: Tensor, targets: Tensor, target_lens: Tensor) -> Tensor:
        """Sum over each utterance, mean over utterances. ``targets`` [B, L] padded with -1."""
        loss = F.ctc_loss(log_probs.transpose(0, 1).float(), targets.clamp(min=0), lens,
                          target_lens, blank=self.blank_id, reduction="sum", zero_infinity=True)
        return loss / log_probs.size(0)

    def attention(self, logits: Tensor, targets: Tensor) -> Tensor:
        """``logits`` [B, L, V] against ``targets`` [B, L] (tokens + eos, -1 = padding)."""
        if self.smoothing_form == "espnet":
            return label_smoothing_kl(logits, targets, self.label_smoothing, ignore_index=-1)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-1,
                               label_smoothing=self.label_smoothing, reduction="sum")
        return loss / logits.size(0)

    def forward(self, *, ctc_log_probs: Tensor | None = None, enc_lens: Tensor | None = None,
                targets: Tensor | None = None, target_lens: Tensor | None = None,
                intermediate_log_probs: list[Tensor] | None = None,
                decoder_logits: Tensor | None = None, decoder_targets: Tensor | None = None,
                ) -> dict[str, Tensor]:
        """Returns {"loss", and the parts that were computed: "ctc", "interctc", "attention"}."""
        parts: dict[str, Tensor] = {}
        total = torch.zeros((), device=(ctc_log_probs if ctc_log_probs is not None else decoder_logits).device)
        if self.uses_ctc:
            ctc = parts["ctc"] = self.ctc(ctc_log_probs, enc_lens, targets, target_lens)
            if self.interctc_weight > 0 and intermediate_log_probs:
                inter = torch.stack([self.ctc(lp, enc_lens, targets, target_lens)
                                     for lp in intermediate_log_probs]).mean()
                parts["interctc"] = inter
                ctc = (1 - self.interctc_weight) * ctc + self.interctc_weight * inter
            total = total + self.ctc_weight * ctc
        if self.uses_attention:
            att = parts["attention"] = self.attention(decoder_logits, decoder_targets)
            total = total + (1 - self.ctc_weight) * att
        parts["loss"] = total
        return parts
