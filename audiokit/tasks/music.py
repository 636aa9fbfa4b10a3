"""Music LM task: the LM task's loss and exact validation perplexity on event-token crops."""

from __future__ import annotations

import torch

from audiokit.tasks.lm import IGNORE, LMTask
from audiokit.utils.masking import lengths_to_mask


class MusicLMTask(LMTask):
    """:class:`~audiokit.tasks.lm.LMTask` whose batches are ready-made windows (the data
    module frames pieces with ``<sos/eos>`` and crops them), so input and target are the
    window shifted by one. ``events`` is the token dir's time grid
    (:class:`audiokit.music.events.EventConfig` as a dict), kept so that sampling writes MIDI
    at the right time scale."""

    inference = "audiokit.inference.music.MusicGenerator"

    def __init__(self, tokenizer: dict, model: dict, optim: dict,
                 scheduler: dict | None = None, loss: dict | None = None,
                 frontend: dict | None = None, events: dict | None = None) -> None:
        super().__init__(tokenizer, model, optim, scheduler, loss, frontend)
        self.events = dict(events or {})

    def forward(self, tokens: torch.Tensor, token_lens: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        valid = lengths_to_mask(token_lens - 1, tokens.shape[1] - 1)
        target = tokens[:, 1:].masked_fill(~valid, IGNORE)
        return self.model(tokens[:, :-1], token_lens - 1), target
