"""Language modelling on token sequences (for shallow fusion in ASR beam search)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from audiokit.tasks.base import AudioTask
from audiokit.text.tokenizer import tokenizer_from_spec
from audiokit.utils.masking import lengths_to_mask

IGNORE = -100  # target id left out of the loss (cross-entropy's default ignore_index)


def lm_io(tokens: torch.Tensor, lens: torch.Tensor, sos: int, eos: int
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded ``tokens`` [B, L] with ``lens`` [B] -> (input sos + y [B, L+1], target y + eos).

    Target positions past each sentence's eos are ``IGNORE``; input padding is arbitrary
    (the model is causal, so it cannot reach a valid position).
    """
    b = tokens.shape[0]
    valid = lengths_to_mask(lens, tokens.shape[1])
    tokens = tokens.masked_fill(~valid, eos)
    ys_in = torch.cat([tokens.new_full((b, 1), sos), tokens], dim=1)
    target = torch.cat([tokens.masked_fill(~valid, IGNORE), tokens.new_full((b, 1), IGNORE)], 1)
    target[torch.arange(b, device=tokens.device), lens] = eos
    return ys_in, target


class LMTask(AudioTask):
    """Next-token cross-entropy for a causal LM ``model(ys [B,L], lens [B]) -> logits [B,L,V]``.

    The model is built with ``vocab_size`` from the tokenizer spec (which is saved with the
    weights, so a loaded LM knows its token list). Validation reports the exact per-token
    loss and perplexity of the whole validation set, summed over batches and DDP ranks.
    """

    inference = ""  # used through its model's step() inside ASR beam search

    def __init__(
        self,
        tokenizer: dict,
        model: dict,
        optim: dict,
        scheduler: dict | None = None,
        loss: dict | None = None,
        frontend: dict | None = None,
    ) -> None:
        super().__init__(frontend, optim, scheduler)
        self.save_hyperparameters()
        self.tokenizer = tokenizer_from_spec(tokenizer)
        self.model = instantiate(model, vocab_size=self.tokenizer.vocab_size)
        # Any loss taking (logits [N, V], targets [N]) and an ignore_index, e.g. label smoothing.
        self.loss_fn = (instantiate(loss, ignore_index=IGNORE) if loss
                        else torch.nn.CrossEntropyLoss(ignore_index=IGNORE))
        # (summed NLL, token count) over the validation epoch; a plain attribute, not a
        # buffer, so that DDP does not overwrite it with rank 0's copy.
        self._valid_totals = torch.zeros(2, dtype=torch.float64)

    def forward(self, tokens: torch.Tensor, token_lens: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits [B, L+1, V], targets [B, L+1]) for padded token sequences."""
        ys_in, target = lm_io(tokens, token_lens, self.tokenizer.sos_id, self.tokenizer.eos_id)
        return self.model(ys_in, token_lens + 1), target

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        logits, target = self(batch["tokens"], batch["token_lens"])
        loss = self.loss_fn(logits.flatten(0, 1), target.flatten())
        self.log("train/loss", loss, prog_bar=True, batch_size=int((target != IGNORE).sum()))
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits, target = self(batch["tokens"], batch["token_lens"])
        nll = F.cross_entropy(logits.flatten(0, 1).float(), target.flatten(),
                              ignore_index=IGNORE, reduction="sum")
        count = (target != IGNORE).sum()
        totals = torch.stack([nll.detach().double(), count.double()])
        self._valid_totals = self._valid_totals.to(totals.device) + totals

    def on_validation_epoch_end(self) -> None:
        totals = self.all_gather(self._valid_totals)
        if totals.dim() == 2:  # [world, 2] under DDP
            totals = totals.sum(0)
        self._valid_totals = torch.zeros_like(self._valid_totals)
        loss = totals[0] / totals[1].clamp(min=1)
        # every rank holds the same sums; sync_dist averages identical values
        self.log("valid/loss", loss.float(), prog_bar=True, sync_dist=True)
        self.log("valid/ppl", loss.exp().float(), sync_dist=True)
