"""Audio classification: one label per utterance (spoken digits, sound events, keywords)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from audiokit.metrics.classification import confusion_counts, macro_f1_from_confusion
from audiokit.tasks.base import AudioTask


class ClassificationTask(AudioTask):
    """frontend -> [SpecAugment] -> [mixup] -> model -> logits; cross-entropy.

    The model is any module ``(feats [B,T,F], lens [B]) -> logits [B,C]`` built with
    ``input_dim = frontend.output_dim`` and ``num_classes = len(labels)``.
    """

    inference = "audiokit.inference.classify.AudioClassifier"

    def __init__(
        self,
        labels: list[str],
        frontend: dict,
        model: dict,
        loss: dict,
        optim: dict,
        scheduler: dict | None = None,
        specaugment: dict | None = None,
        mixup: dict | None = None,
    ) -> None:
        super().__init__(frontend, optim, scheduler)
        self.save_hyperparameters()
        self.labels = list(labels)
        self.model = instantiate(model, input_dim=self.frontend.output_dim,
                                 num_classes=len(self.labels))
        self.loss_fn = instantiate(loss)
        self.specaugment = instantiate(specaugment) if specaugment else None
        self.mixup = instantiate(mixup) if mixup else None
        # Summed over batches and ranks so macro-F1 is exact under DDP. A plain attribute,
        # not a buffer: DDP would overwrite buffers with rank 0's copy on every forward.
        self._valid_confusion = torch.zeros(len(self.labels), len(self.labels))

    def forward(self, audio: torch.Tensor, audio_lens: torch.Tensor) -> torch.Tensor:
        feats, lens = self.frontend(audio, audio_lens)
        return self.model(feats, lens)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        feats, lens = self.frontend(batch["audio"], batch["audio_lens"])
        if self.specaugment is not None:
            feats = self.specaugment(feats, lens)
        targets = batch["label"]
        if self.mixup is not None:
            soft = F.one_hot(targets, len(self.labels)).to(feats.dtype)
            feats, lens, soft = self.mixup(feats, lens, soft)
            targets = soft
        logits = self.model(feats, lens)
        loss = self.loss_fn(logits, targets)
        size = len(batch["ids"])
        acc = (logits.argmax(-1) == batch["label"]).float().mean()
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        self.log("train/acc", acc, prog_bar=True, batch_size=size)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self(batch["audio"], batch["audio_lens"])
        size = len(batch["ids"])
        preds = logits.argmax(-1)
        self.log("valid/loss", self.loss_fn(logits, batch["label"]), batch_size=size,
                 sync_dist=True)
        self.log("valid/acc", (preds == batch["label"]).float().mean(), prog_bar=True,
                 batch_size=size, sync_dist=True)
        counts = confusion_counts(batch["label"], preds, len(self.labels))
        self._valid_confusion = self._valid_confusion.to(counts.device) + counts

    def on_validation_epoch_end(self) -> None:
        confusion = self.all_gather(self._valid_confusion)
        if confusion.dim() == 3:  # [world, C, C] under DDP
            confusion = confusion.sum(0)
        self._valid_confusion = torch.zeros_like(self._valid_confusion)
        # every rank holds the same summed matrix; sync_dist averages identical values
        self.log("valid/macro_f1", macro_f1_from_confusion(confusion), sync_dist=True)
