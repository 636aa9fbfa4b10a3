"""HuBERT-style masked prediction of k-means frame labels on unlabelled audio."""

from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate

from audiokit.tasks.base import AudioTask


class HuBERTPretrainingTask(AudioTask):
    """frontend (raw waveform) -> :class:`~audiokit.models.ssl.hubert.HuBERTPretrain` with the
    k-means labels of each utterance.

    Args:
        targets: a targets file of :mod:`audiokit.models.ssl.kmeans_targets` (``utt label
            label ...``, one label per 10 ms frame) covering the training and validation
            utterances. Read when training starts, so a saved task rebuilds without it.
        valid_seed: validation masks are drawn from this seed (per batch), so ``valid/loss``
            compares across epochs.
        loss, labels: accepted and ignored (the loss lives in the model; class labels of the
            data dir, if any, are not used).
    """

    def __init__(self, frontend: dict, model: dict, optim: dict, scheduler: dict | None = None,
                 targets: str | None = None, valid_seed: int = 0, loss: dict | None = None,
                 labels: list[str] | None = None) -> None:
        super().__init__(frontend, optim, scheduler)
        self.save_hyperparameters(ignore=["loss", "labels"])
        self.model = instantiate(model, input_dim=self.frontend.output_dim)
        self.targets_file, self.valid_seed = targets, valid_seed
        self._targets: dict[str, torch.Tensor] | None = None

    def targets(self) -> dict[str, torch.Tensor]:
        if self._targets is None:
            from audiokit.data.datadir import read_kaldi_map

            if not self.targets_file:
                raise ValueError("HuBERT pretraining needs task.targets (a k-means targets file)")
            entries = read_kaldi_map(Path(self.targets_file))
            self._targets = {u: torch.tensor([int(x) for x in v.split()]) for u, v in entries.items()}
        return self._targets

    def _labels(self, ids: list[str]) -> list[torch.Tensor]:
        targets = self.targets()
        missing = [u for u in ids if u not in targets]
        if missing:
            raise KeyError(f"{self.targets_file}: no targets for utterance '{missing[0]}' "
                           f"({len(missing)} of the batch missing)")
        return [targets[u] for u in ids]

    def forward(self, audio: torch.Tensor, audio_lens: torch.Tensor, ids: list[str],
                seed: int | None = None) -> dict[str, torch.Tensor]:
        feats, lens = self.frontend(audio, audio_lens)
        return self.model(feats, lens, self._labels(ids), ids=ids, seed=seed)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        out = self(batch["audio"], batch["audio_lens"], batch["ids"])
        n = len(batch["ids"])
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=n)
        self.log("train/acc_masked", out["acc_m"], batch_size=n)
        return out["loss"]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        out = self(batch["audio"], batch["audio_lens"], batch["ids"],
                   seed=self.valid_seed + batch_idx)
        n = len(batch["ids"])
        self.log("valid/loss", out["loss"], prog_bar=True, batch_size=n, sync_dist=True)
        self.log("valid/acc_masked", out["acc_m"], batch_size=n, sync_dist=True)
        self.log("valid/loss_unmasked", out["loss_u"], batch_size=n, sync_dist=True)
