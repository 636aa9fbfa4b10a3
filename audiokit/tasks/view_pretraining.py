"""Self-supervised pretraining on two randomly perturbed views of the same unlabelled audio."""

from __future__ import annotations

import torch
from hydra.utils import instantiate

from audiokit.tasks.base import AudioTask


class ViewPretrainingTask(AudioTask):
    """frontend twice (each call draws its own random perturbation) -> model(view a, view b,
    lens) -> {"loss", "metrics"} (:class:`~audiokit.models.ssl.speaker_invariant_clustering.
    SpeakerInvariantClustering`).

    The views differ only through the frontend's training-time perturbation, which must be on
    (``frontend.vtln_warp``): without it both views would be the same features. Validation
    draws the perturbations from a fixed seed, so ``valid/loss`` compares across epochs.
    ``loss`` and ``labels`` are accepted and ignored, as in masked pretraining.
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
        if getattr(self.frontend, "vtln_warp", None) is None:
            raise ValueError("view pretraining needs a frontend that perturbs each call "
                             "(frontend.vtln_warp=[low,high]); with none the two views are equal")
        self.save_hyperparameters(ignore=["loss", "labels"])
        self.model = instantiate(model, input_dim=self.frontend.output_dim)
        self.valid_seed = valid_seed

    def views(self, audio: torch.Tensor, audio_lens: torch.Tensor) -> dict[str, torch.Tensor]:
        feats_a, lens = self.frontend(audio, audio_lens)
        feats_b, _ = self.frontend(audio, audio_lens)
        return self.model(feats_a, feats_b, lens)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        out = self.views(batch["audio"], batch["audio_lens"])
        self._log(out, "train", len(batch["ids"]))
        return out["loss"]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        devices = [batch["audio"].device] if batch["audio"].is_cuda else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.valid_seed + batch_idx)
            self.frontend.train()                  # perturb, as in training
            try:
                out = self.views(batch["audio"], batch["audio_lens"])
            finally:
                self.frontend.eval()
        self._log(out, "valid", len(batch["ids"]))

    def _log(self, out: dict, stage: str, batch_size: int) -> None:
        sync = stage == "valid"
        self.log(f"{stage}/loss", out["loss"], prog_bar=True, batch_size=batch_size, sync_dist=sync)
        for name, value in (out.get("metrics") or {}).items():
            self.log(f"{stage}/{name}", value, batch_size=batch_size, sync_dist=sync)
