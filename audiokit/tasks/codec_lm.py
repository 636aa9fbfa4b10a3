"""Codec language models: next-step cross-entropy over the K codebook heads of a pattern.

The model maps a batch (codes, their lengths, optional text and prompt) to ``(logits [B, K',
S, V], targets [B, K', S])`` with ``IGNORE`` wherever nothing is predicted (pads, the
pattern's delay positions, the prefix); the task only sums cross-entropy over the rest. The
same task trains the autoregressive :class:`~audiokit.models.codec_lm.CodecLM` (any pattern)
and VALL-E's non-autoregressive :class:`~audiokit.models.codec_lm.CodecNAR`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from audiokit.data.text_units import check_unit
from audiokit.models.codec_lm.lm import IGNORE
from audiokit.tasks.base import AudioTask

INPUTS = ("codes", "code_lens", "text", "text_lens", "prompt", "prompt_lens")


class CodecLMTask(AudioTask):
    """Cross-entropy over every predicted codebook position; validation reports the exact
    per-token loss (``valid/loss``), perplexity and accuracy of the whole validation set.

    Args:
        n_q, codebook_size: the codec's codebooks (from the datamodule; saved in the model
            file, so generation knows which codes it makes).
        text_vocab: the units the text condition is made of (None: no text).
        text_unit: ``char`` or ``word`` (``audiokit.data.text_units``: words outside
            ``text_vocab`` are ``<unk>``).
    """

    # audiokit-infer generates codes (and audio through a codec) for a data dir's text
    inference = "audiokit.inference.codec_lm.CodecLMGenerator"

    def __init__(self, n_q: int, codebook_size: int, model: dict, optim: dict,
                 scheduler: dict | None = None, loss: dict | None = None,
                 frontend: dict | None = None, text_vocab: list[str] | None = None,
                 text_unit: str = "char") -> None:
        super().__init__(None, optim, scheduler)
        self.save_hyperparameters()
        self.n_q, self.codebook_size, self.text_vocab = n_q, codebook_size, text_vocab
        self.text_unit = check_unit(text_unit)
        self.model = instantiate(model, n_q=n_q, card=codebook_size,
                                 text_vocab_size=len(text_vocab or []))
        self.loss_fn = (instantiate(loss, ignore_index=IGNORE) if loss
                        else torch.nn.CrossEntropyLoss(ignore_index=IGNORE))
        # (summed NLL, correct, token count) over the validation epoch (not a buffer: DDP
        # would overwrite it with rank 0's)
        self._valid_totals = torch.zeros(3, dtype=torch.float64)

    def check_batch(self, batch: dict) -> None:
        """Codes from another codec are an error naming the utterance and the mismatch."""
        for key in ("codes", "prompt"):
            if key not in batch:
                continue
            codes = batch[key]
            if codes.shape[1] != self.n_q:
                raise ValueError(f"utterances {batch['ids']}: {key} has {codes.shape[1]} "
                                 f"codebooks, this model {self.n_q}")
            bad = (codes >= self.codebook_size).flatten(1).any(1) | (codes < 0).flatten(1).any(1)
            if bad.any():
                utt = batch["ids"][int(bad.nonzero()[0])]
                raise ValueError(f"utterance '{utt}': {key} values outside this model's "
                                 f"codebook size {self.codebook_size}")

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        self.check_batch(batch)
        return self.model(**{k: batch[k] for k in INPUTS if k in batch})

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        logits, targets = self(batch)
        loss = self.loss_fn(logits.flatten(0, 2).float(), targets.flatten())
        self.log("train/loss", loss, prog_bar=True, batch_size=int((targets != IGNORE).sum()))
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits, targets = self(batch)
        flat, target = logits.flatten(0, 2).float(), targets.flatten()
        keep = target != IGNORE
        nll = F.cross_entropy(flat, target, ignore_index=IGNORE, reduction="sum")
        correct = (flat.argmax(-1)[keep] == target[keep]).sum()
        totals = torch.stack([nll.detach().double(), correct.double(), keep.sum().double()])
        self._valid_totals = self._valid_totals.to(totals.device) + totals

    def on_validation_epoch_end(self) -> None:
        totals = self.all_gather(self._valid_totals)
        if totals.dim() == 2:  # [world, 3] under DDP
            totals = totals.sum(0)
        self._valid_totals = torch.zeros_like(self._valid_totals)
        count = totals[2].clamp(min=1)
        loss = totals[0] / count
        self.log("valid/loss", loss.float(), prog_bar=True, sync_dist=True)
        self.log("valid/ppl", loss.exp().float(), sync_dist=True)
        self.log("valid/acc", (totals[1] / count).float(), sync_dist=True)
