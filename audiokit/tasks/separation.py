"""Speech separation and enhancement: mixture waveform in, one waveform per source out."""

from __future__ import annotations

import torch
from hydra.utils import instantiate

from audiokit.losses.pit import pit_from_pairwise
from audiokit.losses.separation import pairwise_si_sdr, si_sdr
from audiokit.tasks.base import AudioTask


class SeparationTask(AudioTask):
    """model(mixture [B, T]) -> estimates [B, S, T], trained with a PIT loss over the valid
    samples (``lengths``). Validation logs SI-SNR and its improvement over the mixture
    (``valid/si_snri``, in dB). ``num_sources`` 1 is enhancement.
    """

    inference = "audiokit.inference.separate.Separator"

    def __init__(self, num_sources: int, sample_rate: int, model: dict, loss: dict, optim: dict,
                 scheduler: dict | None = None, frontend: dict | None = None) -> None:
        super().__init__(None, optim, scheduler)  # the models read waveforms: no frontend
        self.save_hyperparameters()
        self.num_sources, self.sample_rate = num_sources, sample_rate
        self.model = instantiate(model, num_sources=num_sources)
        self.loss_fn = instantiate(loss)

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        return self.model(mixture)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        est = self.model(batch["mixture"])
        loss = self.loss_fn(est, batch["sources"], batch["lengths"])
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["ids"]))
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        mixture, sources, lengths = batch["mixture"], batch["sources"], batch["lengths"]
        est = self.model(mixture)
        # SI-SNR under the best permutation, whatever objective the loss trains with.
        neg_si_snr, _ = pit_from_pairwise(-pairwise_si_sdr(est, sources, lengths))
        baseline = si_sdr(mixture.unsqueeze(1).expand_as(sources), sources, lengths).mean(1)
        size = len(batch["ids"])
        self.log("valid/loss", self.loss_fn(est, sources, lengths), batch_size=size,
                 sync_dist=True)
        self.log("valid/si_snr", -neg_si_snr.mean(), batch_size=size, sync_dist=True)
        self.log("valid/si_snri", (-neg_si_snr - baseline).mean(), prog_bar=True,
                 batch_size=size, sync_dist=True)
