"""Speech activity (VAD) and overlapped-speech detection: the first stage of a diarization
pipeline, trained on the same data dirs (``wav.scp`` + ``rttm``) as EEND."""

from __future__ import annotations

import torch
from hydra.utils import instantiate

from audiokit.tasks.base import AudioTask
from audiokit.tasks.diarization import align_labels

# What each output detects, from the number of reference speakers in a frame.
TARGETS = {"speech": 1, "overlap": 2}


class SpeechActivityTask(AudioTask):
    """frontend -> model -> one logit per target and frame: ``speech`` (someone speaks) and,
    optionally, ``overlap`` (two or more speak at once). The loss (``loss=bce``) sees the
    valid frames only.

    ``pipeline`` holds the diarization pipeline's settings (speaker-embedding experiment,
    windows, clustering, thresholds); ``audiokit-infer`` on this experiment runs
    :class:`audiokit.inference.diarization.PipelineDiarizer` with them.
    """

    inference = "audiokit.inference.diarization.PipelineDiarizer"

    def __init__(self, sample_rate: int, frame_shift: float, frontend: dict, model: dict,
                 loss: dict, optim: dict, scheduler: dict | None = None,
                 targets: tuple[str, ...] = ("speech", "overlap"),
                 pipeline: dict | None = None) -> None:
        super().__init__(frontend, optim, scheduler)
        self.save_hyperparameters()
        unknown = [t for t in targets if t not in TARGETS]
        if unknown:
            raise ValueError(f"task.targets: unknown {unknown}; choose from {list(TARGETS)}")
        self.sample_rate, self.frame_shift = sample_rate, frame_shift
        self.targets = list(targets)
        self.model = instantiate(model, input_dim=self.frontend.output_dim,
                                 num_outputs=len(self.targets))
        self.loss_fn = instantiate(loss)  # on the valid frames only: [N, targets]
        self.pipeline = dict(pipeline or {})

    @property
    def subsampling(self) -> int:
        return int(getattr(self.model, "subsampling", 1))

    def forward(self, audio: torch.Tensor, audio_lens: torch.Tensor,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame probabilities [B, T', len(targets)] and their lengths."""
        logits, lens = self.model(*self.frontend(audio, audio_lens))
        return torch.sigmoid(logits), lens

    def _step(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                          torch.Tensor]:
        logits, lens = self.model(*self.frontend(batch["audio"], batch["audio_lens"]))
        speakers = align_labels(batch["labels"], logits.shape[1], self.subsampling).sum(-1)
        target = torch.stack([(speakers >= TARGETS[t]).float() for t in self.targets], -1)
        valid = (torch.arange(logits.shape[1], device=lens.device)[None] < lens[:, None])
        loss = self.loss_fn(logits[valid], target[valid])
        return loss, logits, target, valid

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, *_ = self._step(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["ids"]))
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        loss, logits, target, valid = self._step(batch)
        size = len(batch["ids"])
        self.log("valid/loss", loss, prog_bar=True, batch_size=size, sync_dist=True)
        decided = (logits[valid] > 0).float()
        for k, name in enumerate(self.targets):
            # Detection error rate: (missed + false alarm) frames over reference frames.
            ref, hyp = target[valid][:, k], decided[:, k]
            errors = (ref * (1 - hyp)).sum() + ((1 - ref) * hyp).sum()
            self.log(f"valid/{name}_error", errors / ref.sum().clamp(min=1.0),
                     batch_size=size, sync_dist=True)
