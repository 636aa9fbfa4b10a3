"""Language models over token ids: ``forward(ys, lens) -> logits`` and ``step(ys, state)`` for
shallow fusion in beam search."""

from audiokit.models.lm.transformer_lm import TransformerLM

__all__ = ["TransformerLM"]
