"""Speaker recognition: an embedding model trained as a speaker classifier with a margin head."""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from audiokit.tasks.base import AudioTask

log = logging.getLogger(__name__)


class SpeakerTask(AudioTask):
    """frontend -> [SpecAugment] -> model -> embedding -> margin head (the loss) over the
    training speakers. Verification uses the embeddings alone (:meth:`embed`); the head and
    its speaker list only serve training, so any speaker can be enrolled later.

    The model is any module ``(feats [B,T,F], lens [B]) -> [B, D]`` built with
    ``input_dim = frontend.output_dim``; the loss gets ``embedding_dim = model.embedding_dim``
    and ``num_classes = len(labels)`` (the training speakers).
    """

    inference = "audiokit.inference.speaker.SpeakerEmbedder"

    def __init__(self, labels: list[str], frontend: dict, model: dict, loss: dict, optim: dict,
                 scheduler: dict | None = None, specaugment: dict | None = None) -> None:
        super().__init__(frontend, optim, scheduler)
        self.save_hyperparameters()
        self.labels = list(labels)
        self.model = instantiate(model, input_dim=self.frontend.output_dim)
        self.loss_fn = instantiate(loss, embedding_dim=self.model.embedding_dim,
                                   num_classes=len(self.labels))
        self.specaugment = instantiate(specaugment) if specaugment else None
        self._has_batch_norm = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                                   for m in self.model.modules())

    def embed(self, audio: torch.Tensor, audio_lens: torch.Tensor) -> torch.Tensor:
        return self.model(*self.frontend(audio, audio_lens))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        if len(batch["ids"]) < 2 and self._has_batch_norm:
            # Batch norm has no batch statistics for one embedding. A zero loss that touches
            # every parameter skips the step and keeps DDP ranks in step (None would not).
            log.warning("training: utterance %s is alone in its batch; batch norm needs two "
                        "or more, so this step is skipped", batch["ids"][0])
            return sum(p.sum() for p in self.parameters() if p.requires_grad) * 0.0
        feats, lens = self.frontend(batch["audio"], batch["audio_lens"])
        if self.specaugment is not None:
            feats = self.specaugment(feats, lens)
        emb = self.model(feats, lens)
        loss = self.loss_fn(emb, batch["label"])
        acc = (self.loss_fn.logits(emb).argmax(-1) == batch["label"]).float().mean()
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["ids"]))
        self.log("train/acc", acc, batch_size=len(batch["ids"]))
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        emb = self.embed(batch["audio"], batch["audio_lens"])
        size = len(batch["ids"])
        # Speaker ID of held-out recordings of the training speakers, without the margin: the
        # margin is scheduled (ramped), and a loss that includes it rises with it, so the
        # lowest valid/loss would pick a checkpoint from before the ramp, not the best model.
        logits = self.loss_fn.logits(emb)
        acc = (logits.argmax(-1) == batch["label"]).float().mean()
        self.log("valid/loss", F.cross_entropy(logits, batch["label"]), batch_size=size,
                 sync_dist=True)
        self.log("valid/acc", acc, prog_bar=True, batch_size=size, sync_dist=True)
