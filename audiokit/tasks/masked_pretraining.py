"""Self-supervised masked pretraining on unlabelled audio (Audio-MAE): labels are ignored."""

from __future__ import annotations

import torch
from hydra.utils import instantiate

from audiokit.tasks.base import AudioTask


class MaskedPretrainingTask(AudioTask):
    """frontend -> masked model -> reconstruction loss on the masked patches.

    The model is any module ``(feats [B,T,F], lens [B]) -> {"loss": ..., "masked": ...}``
    built with ``input_dim = frontend.output_dim`` (:class:`audiokit.models.ssl.AudioMAE`).
    ``loss`` (the training config's loss group) and ``labels`` are accepted and ignored: the
    loss lives in the model, and a data dir's utt2label, if any, is not used.
    Validation draws its masks from a fixed seed so ``valid/loss`` compares across epochs.
    Scalars the model returns under ``"metrics"`` (BEATs: masked-label accuracy, labels or
    codes in use) are logged as ``train/*`` and ``valid/*`` beside the loss.
    """

    def __init__(
        self,
        frontend: dict,
        model: dict,
        optim: dict,
        scheduler: dict | None = None,
        loss: dict | None = None,
        labels: list[str] | None = None,
        valid_seed: int = 0,
    ) -> None:
        super().__init__(frontend, optim, scheduler)
        self.save_hyperparameters(ignore=["loss", "labels"])
        self.model = instantiate(model, input_dim=self.frontend.output_dim)
        self.valid_seed = valid_seed

    def forward(self, audio: torch.Tensor, audio_lens: torch.Tensor,
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        feats, lens = self.frontend(audio, audio_lens)
        return self.model(feats, lens, generator=generator)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        out = self(batch["audio"], batch["audio_lens"])
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=len(batch["ids"]))
        self._log_model_metrics(out, "train", batch)
        return out["loss"]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        generator = torch.Generator(device=batch["audio"].device)
        generator.manual_seed(self.valid_seed + batch_idx)
        out = self(batch["audio"], batch["audio_lens"], generator=generator)
        self.log("valid/loss", out["loss"], prog_bar=True, batch_size=len(batch["ids"]),
                 sync_dist=True)
        self._log_model_metrics(out, "valid", batch)

    def _log_model_metrics(self, out: dict, stage: str, batch: dict) -> None:
        for name, value in (out.get("metrics") or {}).items():
            self.log(f"{stage}/{name}", value, batch_size=len(batch["ids"]),
                     sync_dist=stage == "valid")
