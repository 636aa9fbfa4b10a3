"""Self-supervised pretraining on two randomly perturbed views of the same unlabelled audio."""

from __future__ import annotations

import torch

from audiokit.tasks.masked_pretraining import MaskedPretrainingTask


class ViewPretrainingTask(MaskedPretrainingTask):
    """frontend twice (each call draws its own random perturbation) -> model(view a, view b,
    lens) -> {"loss", "metrics"} (:class:`~audiokit.models.ssl.speaker_invariant_clustering.
    SpeakerInvariantClustering`).

    The views differ only through the frontend's training-time perturbation, which must be on
    (``frontend.vtln_warp``): without it both views would be the same features. Validation
    draws the perturbations from a fixed seed, so ``valid/loss`` compares across epochs.
    Arguments as :class:`MaskedPretrainingTask` (``loss`` and ``labels`` are ignored).
    """

    def __init__(self, frontend: dict, model: dict, optim: dict, **kwargs) -> None:
        super().__init__(frontend, model, optim, **kwargs)
        if getattr(self.frontend, "vtln_warp", None) is None:
            raise ValueError("view pretraining needs a frontend that perturbs each call "
                             "(frontend.vtln_warp=[low,high]); with none the two views are equal")

    def forward(self, audio: torch.Tensor, audio_lens: torch.Tensor,
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        # generator (masked pretraining's) is unused: the warps come from the global RNG,
        # which validation_step seeds
        feats_a, lens = self.frontend(audio, audio_lens)
        feats_b, _ = self.frontend(audio, audio_lens)
        return self.model(feats_a, feats_b, lens)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        devices = [batch["audio"].device] if batch["audio"].is_cuda else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.valid_seed + batch_idx)
            self.frontend.train()                  # perturb, as in training
            try:
                super().validation_step(batch, batch_idx)
            finally:
                self.frontend.eval()
