"""End-to-end neural diarization (EEND): frames in, one activity per speaker out."""

from __future__ import annotations

import logging

import torch
from hydra.utils import instantiate

from audiokit.inference.loading import read_model_file
from audiokit.losses.pit_bce import permute_labels
from audiokit.metrics.frame_der import frame_der, frame_error_counts
from audiokit.tasks.base import AudioTask

log = logging.getLogger(__name__)


def align_labels(labels: torch.Tensor, target_frames: int, subsampling: int) -> torch.Tensor:
    """Labels at the frontend's frame rate -> the model's output rate and length: output frame
    k is centred on input frame k * subsampling; cut or zero-padded to ``target_frames``."""
    labels = labels[:, ::subsampling]
    if labels.shape[1] >= target_frames:
        return labels[:, :target_frames]
    return torch.nn.functional.pad(labels, (0, 0, 0, target_frames - labels.shape[1]))


class DiarizationTask(AudioTask):
    """frontend -> [SpecAugment] -> EEND model -> speaker logits [B, T', S], trained with
    permutation-invariant BCE (``loss=pit_bce``); with encoder-decoder
    attractors (``model.eda``) the loss adds the attractor existence loss.

    The model is any module ``(feats, lens, num_speakers) -> {"logits", "lens",
    "attractor_logits"}`` built with ``input_dim = frontend.output_dim`` and exposing
    ``subsampling``. Validation logs the frame-level DER (``valid/der``; no collar).
    """

    inference = "audiokit.inference.diarization.EENDDiarizer"

    def __init__(self, sample_rate: int, frame_shift: float, frontend: dict, model: dict,
                 loss: dict, optim: dict, scheduler: dict | None = None,
                 specaugment: dict | None = None, threshold: float = 0.5,
                 postprocess: dict | None = None, init_checkpoint: str | None = None) -> None:
        super().__init__(frontend, optim, scheduler)
        self.save_hyperparameters(ignore=["init_checkpoint"])
        self.sample_rate, self.frame_shift = sample_rate, frame_shift
        self.model = instantiate(model, input_dim=self.frontend.output_dim)
        # (logits, labels, lens, attractor_logits, num_speakers) -> (loss, permutation)
        self.loss_fn = instantiate(loss)
        self.specaugment = instantiate(specaugment) if specaugment else None
        self.threshold = threshold
        self.postprocess = dict(postprocess or {})  # read by the inference pipeline
        if init_checkpoint:
            self.init_from(init_checkpoint)

    def init_from(self, model_file: str) -> None:
        """Start from another diarization experiment's ``model.pt``: every model weight whose
        name and shape match (EEND-EDA adapts a 2-speaker EEND's encoder, as its paper does);
        what is new or reshaped keeps its fresh initialisation, and both are logged."""
        # read like any model file from elsewhere: no code runs, the configs it holds are checked
        saved = read_model_file(model_file).get("state_dict")
        if not isinstance(saved, dict):
            raise ValueError(f"{model_file}: no 'state_dict' entry: is it a model.pt?")
        own = self.model.state_dict()
        taken = {k[len("model."):]: v for k, v in saved.items() if k.startswith("model.")
                 and k[len("model."):] in own and own[k[len("model."):]].shape == v.shape}
        if not taken:
            raise ValueError(f"{model_file}: no model weight matches this model's names and "
                             "shapes: is it a diarization experiment's model.pt?")
        self.model.load_state_dict(taken, strict=False)
        fresh = sorted(set(own) - set(taken))
        log.info("initialised %d of %d model tensors from %s; fresh: %s", len(taken), len(own),
                 model_file, ", ".join(fresh) or "none")

    @property
    def output_frame_shift(self) -> float:
        return self.frame_shift * self.model.subsampling

    def forward(self, audio: torch.Tensor, audio_lens: torch.Tensor,
                num_speakers: int | None = None) -> dict:
        return self.model(*self.frontend(audio, audio_lens), num_speakers=num_speakers)

    def _step(self, batch: dict, augment: bool) -> tuple[torch.Tensor, dict, torch.Tensor]:
        feats, lens = self.frontend(batch["audio"], batch["audio_lens"])
        if augment and self.specaugment is not None:
            feats = self.specaugment(feats, lens)
        out = self.model(feats, lens, num_speakers=batch["num_speakers"])
        logits, out_lens = out["logits"], out["lens"]
        labels = align_labels(batch["labels"], logits.shape[1], self.model.subsampling)
        loss, perm = self.loss_fn(logits, labels, out_lens, out.get("attractor_logits"),
                                  batch["num_speakers"])
        return loss, {"logits": logits, "labels": permute_labels(labels, perm),
                      "lens": out_lens}, out_lens

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, _, _ = self._step(batch, augment=True)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["ids"]))
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        loss, out, lens = self._step(batch, augment=False)
        active = torch.sigmoid(out["logits"]) > self.threshold
        counts = frame_error_counts(active, out["labels"], lens)
        size = len(batch["ids"])
        self.log("valid/loss", loss, batch_size=size, sync_dist=True)
        # Counts are summed over the set (and ranks), so DER is a ratio of totals, not a mean
        # of per-batch ratios.
        self._valid_counts.append(counts)

    def on_validation_epoch_start(self) -> None:
        self._valid_counts: list[dict] = []

    def on_validation_epoch_end(self) -> None:
        if self._valid_counts:
            total = {k: self.all_gather(sum(c[k] for c in self._valid_counts)).sum()
                     for k in self._valid_counts[0]}
            self.log("valid/der", frame_der(total), prog_bar=True)
