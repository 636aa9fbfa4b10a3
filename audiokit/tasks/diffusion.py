"""Text-to-music by diffusion over log-mel spectrograms (Riffusion / MusicLDM-style, issue 24).

Training (DDPM, Ho et al. 2020): the frontend's log-mel of each clip, normalised per mel bin
(the frontend's global CMVN: ``paths.cmvn_stats`` from ``audiokit-prep stats``; without a
stats file, the mean and standard deviation of the first batch the task sees are written into
the frontend's CMVN buffers, so ``model.pt`` carries them either way; with several devices
give a stats file, as each rank would take its own first batch), a random window of
``crop_seconds`` per clip, a uniform random step ``t``, noise, and the masked MSE between the
denoiser's output and its target over the window's real frames. The denoiser (e.g.
:class:`~audiokit.models.diffusion.MelUNet`) drops each caption to the null caption with its
``cond_dropout`` probability, for classifier-free guidance.

Prediction: ``v`` by default (``prediction: eps`` also works). Why: x_0 = (x_t -
sqrt(1 - ab_t) eps) / sqrt(ab_t), so an eps-predictor's error reaches x_0 multiplied by
1 / sqrt(ab_t), which is large at the noisy end of the schedule (at the last of 1,000
steps, 1 / sqrt(ab) is about 20,000 for the cosine schedule and 157 for the linear one) --
the very steps a few-step DDIM sampler takes its first, largest jumps from. The v target
sqrt(ab) eps - sqrt(1 - ab) x_0 has unit variance at every step for unit-variance data, and
x_0 = sqrt(ab) x_t - sqrt(1 - ab) v never divides by sqrt(ab).

Captions: word ids from a word token dir (``audiokit-prep tokens --kind word`` on the training
captions; ``data.token_dir``); words outside its list become ``<unk>`` (counted by the
datamodule and at generation). Validation: the same loss with the noise and steps drawn from a
generator seeded per batch (``valid/loss`` comparable between epochs).

Generation (:meth:`DiffusionTask.generate`): DDIM or DDPM from noise, classifier-free guidance
with the null caption, features in the frontend's (normalised) units;
:mod:`audiokit.inference.text2music` vocodes them.
"""

from __future__ import annotations

import logging

import torch
from hydra.utils import instantiate
from torch import Tensor

from audiokit.data.collate import pad_sequences
from audiokit.models.diffusion import (
    NoiseSchedule,
    classifier_free_guidance,
    ddim_sample,
    ddpm_sample,
)
from audiokit.models.diffusion.samplers import Generators
from audiokit.models.diffusion.schedule import check_prediction
from audiokit.tasks.base import AudioTask
from audiokit.text.tokenizer import tokenizer_from_spec

log = logging.getLogger(__name__)

MIN_STD = 1e-3
SAMPLERS = ("ddim", "ddpm")


class DiffusionTask(AudioTask):
    """Args:
        tokenizer: the word token list's spec (from ``data.token_dir``).
        schedule: :class:`~audiokit.models.diffusion.NoiseSchedule` arguments.
        prediction: ``v`` or ``eps`` (see the module doc).
        crop_seconds: training window per clip (shorter clips are used whole, padded and
            masked); generation may ask for any length.
        loss: unused (the loss is the masked MSE of the prediction); accepted because every
            experiment composes a ``loss`` group.
    """

    inference = "audiokit.inference.text2music.Text2Music"

    def __init__(self, tokenizer: dict, frontend: dict, model: dict, optim: dict,
                 scheduler: dict | None = None, loss: dict | None = None,
                 schedule: dict | None = None, prediction: str = "v",
                 crop_seconds: float = 3.0, valid_seed: int = 0) -> None:
        super().__init__(frontend, optim, scheduler)
        self.save_hyperparameters()
        if self.frontend is None or not hasattr(self.frontend, "cmvn"):
            raise ValueError("the diffusion task needs a log-mel frontend (frontend=logmel)")
        if not tokenizer or tokenizer.get("kind") != "word":
            raise ValueError("the diffusion task reads captions as words: give data.token_dir a "
                             "word token dir (audiokit-prep tokens --kind word --text D/text)")
        check_prediction(prediction)
        self.frontend.requires_grad_(False)
        self.tokenizer = tokenizer_from_spec(tokenizer)
        self.n_mels = self.frontend.output_dim
        self.model = instantiate(model, n_mels=self.n_mels, text_vocab_size=self.tokenizer.vocab_size)
        self.schedule = NoiseSchedule(**(schedule or {}))
        self.prediction = prediction
        self.crop_frames = max(1, round(crop_seconds * self.frames_per_second))
        self.valid_seed = valid_seed
        cmvn = self.frontend.cmvn
        has_stats = not (bool((cmvn.mean == 0).all()) and bool((cmvn.std == 1).all()))
        self.register_buffer("stats_ready", torch.tensor(has_stats))

    @property
    def frames_per_second(self) -> float:
        return self.frontend.mel.sample_rate / self.frontend.hop_length

    # ---- data -----------------------------------------------------------------------------
    def encode_captions(self, captions: list[str]) -> tuple[Tensor, Tensor, list[list[str]]]:
        """Word ids [B, L] (0-padded), lengths [B] and, per caption, its words outside the
        token list (each became ``<unk>``)."""
        ids = [torch.tensor(self.tokenizer.encode(c), dtype=torch.long) for c in captions]
        tokens, lens = pad_sequences(ids, pad_value=0)
        return (tokens.to(self.device), lens.to(self.device),
                [self.tokenizer.unknown(c) for c in captions])

    @torch.no_grad()
    def features(self, audio: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised log-mel [B, n_mels, T] and frame counts; the first call without CMVN
        statistics sets them from its own frames."""
        self.frontend.eval()
        if not bool(self.stats_ready):
            raw, frame_lens = self.frontend.extract(audio.float(), lens)
            valid = torch.arange(raw.shape[1], device=raw.device)[None] < frame_lens[:, None]
            frames = raw[valid]
            self.frontend.cmvn.mean.copy_(frames.mean(0))
            self.frontend.cmvn.std.copy_(frames.std(0).clamp(min=MIN_STD))
            self.stats_ready.fill_(True)
            log.warning("diffusion: no CMVN statistics (paths.cmvn_stats): the per-bin mean and "
                        "std of the first batch (%d frames) normalise the log-mel", len(frames))
        feats, frame_lens = self.frontend(audio.float(), lens)
        return feats.transpose(1, 2), frame_lens

    def crop(self, feats: Tensor, lens: Tensor, random: bool) -> tuple[Tensor, Tensor]:
        """A ``crop_frames`` window of each clip (random start in training, the start in
        validation); clips that are shorter keep all their frames."""
        width = min(self.crop_frames, feats.shape[2])
        room = (lens - width).clamp(min=0)
        start = (torch.rand(len(lens), device=feats.device) * (room + 1)).floor().long() if random \
            else torch.zeros_like(lens)
        index = (start[:, None] + torch.arange(width, device=feats.device)[None]).clamp(
            max=feats.shape[2] - 1)
        out = feats.gather(2, index[:, None, :].expand(-1, feats.shape[1], -1))
        new_lens = lens.clamp(max=width)
        keep = torch.arange(width, device=feats.device)[None] < new_lens[:, None]
        return out * keep[:, None].to(out.dtype), new_lens

    # ---- the loss -------------------------------------------------------------------------
    def diffusion_loss(self, x0: Tensor, lens: Tensor, text: Tensor, text_lens: Tensor,
                       generator: torch.Generator | None = None) -> Tensor:
        """Masked MSE of the prediction at a random step (per clip) of the forward process."""
        b = x0.shape[0]
        t = torch.randint(0, self.schedule.num_steps, (b,), generator=generator,
                          device="cpu" if generator is not None else x0.device).to(x0.device)
        noise = torch.randn(x0.shape, generator=generator,
                            device="cpu" if generator is not None else x0.device).to(x0)
        keep = (torch.arange(x0.shape[2], device=x0.device)[None] < lens[:, None])[:, None]
        noise = noise * keep.to(noise.dtype)
        xt = self.schedule.q_sample(x0, t, noise)
        out = self.model(xt, t, text, text_lens, lens)
        target = self.schedule.target(x0, noise, t, self.prediction)
        err = (out.float() - target.float()).square() * keep
        return err.sum() / (keep.sum() * x0.shape[1]).clamp(min=1)

    def _batch(self, batch: dict, random: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        if "text" not in batch:
            raise ValueError(f"utterances {batch['ids'][:3]}: no captions (the data dir needs a "
                             "text file)")
        feats, lens = self.features(batch["audio"], batch["audio_lens"])
        x0, lens = self.crop(feats, lens, random)
        text, text_lens, _ = self.encode_captions(batch["text"])
        return x0, lens, text, text_lens

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        x0, lens, text, text_lens = self._batch(batch, random=True)
        loss = self.diffusion_loss(x0, lens, text, text_lens)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(lens))
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        x0, lens, text, text_lens = self._batch(batch, random=False)
        generator = torch.Generator().manual_seed(self.valid_seed * 100003 + batch_idx)
        loss = self.diffusion_loss(x0, lens, text, text_lens, generator)
        self.log("valid/loss", loss, prog_bar=True, batch_size=len(lens), sync_dist=True)

    # ---- generation -----------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, text: Tensor, text_lens: Tensor, frames: int, *, sampler: str = "ddim",
                 steps: int = 50, eta: float = 0.0, guidance: float = 3.0,
                 generator: Generators = None, clip_x0: float | None = None) -> Tensor:
        """Log-mel ``[B, frames, n_mels]`` in the frontend's normalised units for the captions
        ``text`` [B, L] (lengths ``text_lens``; length 0 = unconditional). ``guidance`` is the
        classifier-free guidance scale (1: the conditional model alone, 0: unconditional)."""
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        was_training = self.model.training
        self.model.eval()
        b = text.shape[0]
        if guidance == 0:  # unconditional: the null caption alone, one pass per step
            text, text_lens = self.model.null_text(b, text.device)
            guidance = 1.0
        cond = self.model.encode_text(text, text_lens)
        guided = guidance != 1.0
        if guided:
            null = self.model.encode_text(*self.model.null_text(b, text.device))
            width = max(cond["memory"].shape[1], null["memory"].shape[1])
            cond = {k: torch.cat([_pad_to(cond[k], width), _pad_to(null[k], width)])
                    for k in cond}

        def denoise(x: Tensor, t: Tensor) -> Tensor:
            if not guided:
                return self.model(x, t, cond=cond)
            out = self.model(torch.cat([x, x]), torch.cat([t, t]), cond=cond)
            return classifier_free_guidance(out[:b], out[b:], guidance)

        shape = (b, self.n_mels, frames)
        common = {"prediction": self.prediction, "generator": generator, "clip_x0": clip_x0,
                  "device": text.device}
        try:
            if sampler == "ddpm":
                x = ddpm_sample(denoise, self.schedule, shape, **common)
            else:
                x = ddim_sample(denoise, self.schedule, shape, steps=steps, eta=eta, **common)
        finally:
            self.model.train(was_training)
        return x.transpose(1, 2)

    def to_log_mel(self, feats: Tensor) -> Tensor:
        """Normalised features -> the frontend's raw log-mel (what Griffin-Lim reads)."""
        cmvn = self.frontend.cmvn
        return feats * cmvn.std + cmvn.mean


def _pad_to(x: Tensor, width: int) -> Tensor:
    """Pad a caption tensor's token axis to ``width``: memory [B, L, D] with zeros, the mask
    [B, 1, 1, L] with False; pooled [B, D] as it is."""
    if x.dim() == 3:
        return torch.nn.functional.pad(x, (0, 0, 0, width - x.shape[1]))
    if x.dim() == 4:
        return torch.nn.functional.pad(x, (0, width - x.shape[3]), value=False)
    return x
