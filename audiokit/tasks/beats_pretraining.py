"""BEATs-style pretraining (masked prediction of tokenizer labels, or the tokenizer's own
distillation): :class:`~audiokit.tasks.masked_pretraining.MaskedPretrainingTask`, plus the
model's own scalar metrics (masked-label accuracy, labels or codes in use) in the logs."""

from __future__ import annotations

import torch

from audiokit.tasks.masked_pretraining import MaskedPretrainingTask


class BEATsPretrainingTask(MaskedPretrainingTask):
    """As :class:`MaskedPretrainingTask`; logs ``out["metrics"]`` as ``train/*`` and
    ``valid/*`` beside the loss."""

    def _log_metrics(self, out: dict, stage: str, batch: dict) -> None:
        for name, value in (out.get("metrics") or {}).items():
            self.log(f"{stage}/{name}", value, batch_size=len(batch["ids"]),
                     sync_dist=stage == "valid")

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        out = self(batch["audio"], batch["audio_lens"])
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=len(batch["ids"]))
        self._log_metrics(out, "train", batch)
        return out["loss"]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        generator = torch.Generator(device=batch["audio"].device)
        generator.manual_seed(self.valid_seed + batch_idx)
        out = self(batch["audio"], batch["audio_lens"], generator=generator)
        self.log("valid/loss", out["loss"], prog_bar=True, batch_size=len(batch["ids"]),
                 sync_dist=True)
        self._log_metrics(out, "valid", batch)
