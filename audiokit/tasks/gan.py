"""GAN training for waveform generators (vocoders, codecs), with manual optimization.

Generator contract (vocoders and codecs implement it):

- The task feeds ``inputs = frontend(wav)`` features ``[B, frames, dim]`` when a frontend is
  configured (vocoders: the project's log-mel, :class:`audiokit.frontends.LogMel`), else the
  waveform ``[B, T]`` itself (codecs), and calls ``generator(inputs)``.
- The generator returns the waveform ``[B, T']``, or a dict ``{"audio": [B, T'],
  "losses": {name: scalar tensor}}``. Each extra loss (e.g. a codec's VQ commitment loss) is
  added to the generator loss with weight ``loss_weights[name]`` (a loss without a weight is
  an error).
- A generator with ``needs_target = True`` (autoregressive, e.g. WaveRNN) is called as
  ``generator(inputs, target)`` in training (teacher forcing) and may return ``{"audio":
  None, "losses": {...}}``; it is called as ``generator(inputs)`` to generate. Such models
  train with ``discriminator: null`` (one optimizer, no adversarial losses).
- The target is the input waveform; with a frontend, the part its frames cover: frame i of
  :class:`~audiokit.frontends.LogMel` covers samples [i * hop, i * hop + win), so the target
  starts at ``(win - hop) // 2`` and is ``frames * hop`` samples long (a vocoder's output
  length). The output is cut or zero-padded to the target length.
- The dict may also hold ``"target"``: the waveform the audio is to match, replacing the
  task's target for the reconstruction losses and the discriminator (VITS decodes a random
  window of each utterance and hands back that window of the recording). A subclass may
  call its generator on other inputs by overriding :meth:`GANTask.generator_output`
  (:class:`audiokit.tasks.vits.VITSTask`: text, log-mel, waveform and speaker).

Per training batch: one discriminator step, then one generator step (``discriminator_first:
false`` swaps them); both judge the same generator output. Before
``discriminator_start_step`` batches only the generator trains, on its reconstruction losses.

Generator loss = sum of ``loss_weights[name] * loss`` over: ``adv`` (adversarial), ``fm``
(feature matching), every reconstruction loss in ``loss`` (name -> module called as
``fn(estimate, target)``), and the generator's own losses. With ``balancer`` (EnCodec), the
losses computed from the output waveform (adv, fm, reconstruction) are combined by
:class:`audiokit.losses.balancer.Balancer` with those weights instead.

Optimization: ``optim``/``scheduler`` for the generator, ``optim_d``/``scheduler_d`` for the
discriminator; schedulers step once per batch (the discriminator's only once it trains),
so their ``total_steps`` count batches. ``grad_clip``/``grad_clip_d`` clip each gradient norm
(Lightning's ``gradient_clip_val`` does not apply to manual optimization; leave it unset).
An update whose gradient is not finite is skipped (the optimizer does not step), counted in
``train/skipped_g``/``train/skipped_d``, and the run goes on. bf16-mixed autocast is fine:
the losses are computed in float32.

Lightning's ``global_step`` counts optimizer steps, so with the discriminator on it grows by
2 per batch: ``trainer.max_steps`` = 2 x batches (or bound runs by ``max_epochs``). The
task's own batch counter (``discriminator_start_step``, audio samples) and skip counters,
the balancer state and the EMA generator are saved in checkpoints; Lightning restores both
optimizers, both schedulers and ``global_step``. Resuming from an epoch-end checkpoint
continues exactly as an uninterrupted run (the training segments depend only on seed,
epoch and index).

Validation logs ``valid/mel_distance`` and, with a discriminator, ``valid/mel_distance_gan``:
the same distance plus 1000 until the discriminator has trained on a batch. Monitoring it
(``monitor.metric: valid/mel_distance_gan``) exports the best GAN-trained generator rather
than a generator-only warm-up checkpoint, which the spectral losses alone often rank first
(the warm-up minimises them; the adversarial losses trade a little of them for realism).
Without a GAN phase it still picks the best warm-up checkpoint.

``ema_decay`` keeps an exponential moving average of the generator weights
(``generator_ema``, updated after each generator step) that validation and inference use.

DDP: the discriminator step does not use the generator and the generator step freezes the
discriminator (``toggle_optimizer``), so DDP needs ``find_unused_parameters`` (e.g.
``trainer=ddp_cpu +trainer.strategy.find_unused_parameters=true``).
"""

from __future__ import annotations

import copy
import logging
import math
from pathlib import Path

import lightning.pytorch as pl
import soundfile as sf
import torch
from hydra.utils import instantiate
from torch import Tensor, nn

from audiokit.data.segments import crop_or_pad
from audiokit.losses.balancer import Balancer
from audiokit.losses.gan import (
    check_adversarial,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from audiokit.losses.spectral import MelDistance
from audiokit.tasks.base import AudioTask

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = {"adv": 1.0, "fm": 2.0}
WARMUP_OFFSET = 1000.0  # added to valid/mel_distance_gan before the discriminator has trained


class GANTask(AudioTask):
    def __init__(self, sample_rate: int, model: dict, discriminator: dict | None, optim: dict,
                 loss: dict | None = None, frontend: dict | None = None,
                 scheduler: dict | None = None, optim_d: dict | None = None,
                 scheduler_d: dict | None = None, adversarial: str = "lsgan",
                 loss_weights: dict | None = None, feature_matching_relative: bool = False,
                 discriminator_start_step: int = 0, discriminator_first: bool = True,
                 grad_clip: float | None = None, grad_clip_d: float | None = None,
                 ema_decay: float | None = None, balancer: dict | None = None,
                 val_audio_every_n_steps: int = 1000, num_val_audio: int = 2,
                 inference: str = "audiokit.inference.vocode.Vocoder") -> None:
        super().__init__(frontend, optim, scheduler)
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.inference = inference
        self.sample_rate = sample_rate
        self.generator = instantiate(model)
        self.discriminator = instantiate(discriminator) if discriminator else None
        self.teacher_forced = bool(getattr(self.generator, "needs_target", False))
        recon = loss or {}
        if "_target_" in recon:  # a single loss config
            recon = {"recon": recon}
        self.recon_losses = nn.ModuleDict({n: instantiate(c) for n, c in recon.items() if c})
        self.loss_weights = {**DEFAULT_WEIGHTS, **(loss_weights or {})}
        missing = [n for n in self.recon_losses if n not in self.loss_weights]
        if missing:
            raise ValueError(f"task.loss_weights has no weight for the loss(es) {missing}")
        self.adversarial = adversarial
        check_adversarial(adversarial)
        self.fm_relative = feature_matching_relative
        self.optim_d_cfg = optim_d if optim_d is not None else optim
        self.scheduler_d_cfg = scheduler_d
        self.discriminator_start_step = discriminator_start_step
        self.discriminator_first = discriminator_first
        self.grad_clip, self.grad_clip_d = grad_clip, grad_clip_d
        self.ema_decay = ema_decay
        if ema_decay is not None:
            if not 0.0 <= ema_decay < 1.0:
                raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        # balancer: {} or {total_norm, decay}; the shares are loss_weights
        self.balancer = Balancer(self.loss_weights, **balancer) if balancer is not None else None
        self.val_audio_every = val_audio_every_n_steps
        self.num_val_audio = num_val_audio
        self.mel_distance = MelDistance(sample_rate)
        if self.frontend is not None:
            self.frontend.requires_grad_(False)
            hop = getattr(self.generator, "hop_length", None)
            if hop is not None and hop != self.frontend.hop_length:
                raise ValueError(f"the generator upsamples by {hop} but the frontend's hop is "
                                 f"{self.frontend.hop_length} samples")
        # counters saved in checkpoints (on_save_checkpoint)
        self.batches_done = 0
        self.skipped = {"g": 0, "d": 0}
        self._last_audio_step = -1

    # ------------------------------------------------------------------ generator contract
    def features(self, wav: Tensor, lens: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(generator inputs, target waveform) for a batch of waveforms [B, T]."""
        if self.frontend is None:
            return wav, wav
        if lens is None:
            lens = torch.full((wav.size(0),), wav.size(1), dtype=torch.long, device=wav.device)
        with torch.no_grad(), torch.autocast(wav.device.type, enabled=False):
            feats, feat_lens = self.frontend(wav.float(), lens)
        hop, win = self.frontend.hop_length, self.frontend.win_length
        offset = (win - hop) // 2
        target = crop_or_pad(wav[:, offset:], feats.size(1) * hop)
        return feats, target

    def generator_output(self, batch: dict) -> tuple[object, Tensor]:
        """(the generator's output on a training batch, the target waveform)."""
        inputs, target = self.features(batch["audio"], batch["audio_lens"])
        out = self.generator(inputs, target) if self.teacher_forced else self.generator(inputs)
        return out, target

    @staticmethod
    def split_output(out) -> tuple[Tensor, dict[str, Tensor]]:
        if isinstance(out, dict):
            return out["audio"], dict(out.get("losses") or {})
        return out, {}

    def forward(self, inputs: Tensor) -> Tensor:
        """Waveform from generator inputs, with the EMA weights when there are some."""
        gen = self.generator_ema if self.ema_decay is not None else self.generator
        return self.split_output(gen(inputs))[0]

    # ------------------------------------------------------------------ optimizers
    def _total_batches(self) -> int:
        """Batches in the run: max_steps / 2 (two optimizers) or epochs x batches, the smaller."""
        trainer = self.trainer
        _ = trainer.estimated_stepping_batches  # loads the training data: batches per epoch
        bounds = []
        if trainer.max_steps and trainer.max_steps > 0:
            bounds.append(max(1, trainer.max_steps // 2))
        if trainer.max_epochs and trainer.max_epochs > 0 and math.isfinite(trainer.num_training_batches):
            bounds.append(int(trainer.num_training_batches) * trainer.max_epochs)
        if not bounds:
            raise ValueError("a scheduler with total_steps: null needs trainer.max_steps or max_epochs")
        return min(bounds)

    def _scheduler(self, cfg: dict | None, optimizer):
        if not cfg:
            return None
        extra = {}
        if "total_steps" in cfg and cfg["total_steps"] is None:
            extra["total_steps"] = self._total_batches()
        return {"scheduler": instantiate(cfg, optimizer, **extra), "interval": "step"}

    def configure_optimizers(self):
        opt_g = instantiate(self.optim_cfg, self.generator.parameters())
        pairs = [(opt_g, self.scheduler_cfg)]
        if self.discriminator is not None:
            opt_d = instantiate(self.optim_d_cfg, self.discriminator.parameters())
            pairs.append((opt_d, self.scheduler_d_cfg))
        configs = []
        for opt, cfg in pairs:
            sch = self._scheduler(cfg, opt)
            configs.append({"optimizer": opt, **({"lr_scheduler": sch} if sch else {})})
        scheds = [c.get("lr_scheduler", {}).get("scheduler") for c in configs]
        self._schedulers = (scheds + [None])[:2]  # generator's, discriminator's (or None)
        return configs

    # ------------------------------------------------------------------ one update
    def _update(self, key: str, optimizer, clip: float | None) -> float:
        """Clip and step, or skip a non-finite gradient. Returns the gradient norm."""
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        norm = torch.nn.utils.get_total_norm([p.grad for p in params]) if params else torch.zeros(())
        if not torch.isfinite(norm):
            self.skipped[key] += 1
            log.warning("batch %d: non-finite %s gradient, update skipped (%d so far)",
                        self.batches_done, "generator" if key == "g" else "discriminator",
                        self.skipped[key])
            optimizer.zero_grad(set_to_none=True)
            return float("nan")
        if clip is not None:
            torch.nn.utils.clip_grads_with_norm_(params, clip, norm)
        optimizer.step()
        return float(norm)

    def _discriminator_step(self, opt_d, target: Tensor, fake: Tensor) -> dict[str, float]:
        self.toggle_optimizer(opt_d)
        real_logits, _ = self.discriminator(target)
        fake_logits, _ = self.discriminator(fake.detach())
        loss_d = discriminator_loss(real_logits, fake_logits, self.adversarial)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(loss_d)
        norm = self._update("d", opt_d, self.grad_clip_d)
        self.untoggle_optimizer(opt_d)
        return {"loss_d": float(loss_d.detach()), "grad_norm_d": norm}

    def _generator_step(self, opt_g, target: Tensor, fake: Tensor, extra: dict[str, Tensor],
                        use_d: bool) -> dict[str, float]:
        self.toggle_optimizer(opt_g)  # no gradients for the discriminator's weights
        # a teacher-forced generator (WaveRNN) returns no audio in training, only its losses
        losses = {n: fn(fake, target) for n, fn in self.recon_losses.items()} if fake is not None else {}
        if use_d:
            fake_logits, fake_feats = self.discriminator(fake)
            with torch.no_grad():
                _, real_feats = self.discriminator(target)
            losses["adv"] = generator_adversarial_loss(fake_logits, self.adversarial)
            losses["fm"] = feature_matching_loss(real_feats, fake_feats, self.fm_relative)
        for n in extra:
            if n not in self.loss_weights:
                raise ValueError(f"the generator returned a loss {n!r} that task.loss_weights "
                                 f"does not weigh (weights: {sorted(self.loss_weights)})")
        extra_total = sum((self.loss_weights[n] * v.float() for n, v in extra.items()),
                          target.new_zeros((), dtype=torch.float32))
        opt_g.zero_grad(set_to_none=True)
        if self.balancer is None or fake is None:
            total = extra_total + sum(self.loss_weights[n] * v for n, v in losses.items())
            self.manual_backward(total)
        else:
            grad, _ = self.balancer.gradient(losses, fake)
            if extra:
                self.manual_backward(extra_total, retain_graph=True)
            self.manual_backward(fake, grad)
            total = extra_total + sum(self.loss_weights.get(n, 0.0) * v.detach()
                                      for n, v in losses.items())
        norm = self._update("g", opt_g, self.grad_clip)
        self.untoggle_optimizer(opt_g)
        if self.ema_decay is not None and norm == norm:  # not skipped
            self._update_ema()
        logs = {f"loss_{n}": float(v.detach()) for n, v in {**losses, **extra}.items()}
        return {**logs, "loss_g": float(total.detach()), "grad_norm_g": norm}

    @torch.no_grad()
    def _update_ema(self) -> None:
        for ema, p in zip(self.generator_ema.parameters(), self.generator.parameters(), strict=True):
            ema.lerp_(p.detach().to(ema.dtype), 1.0 - self.ema_decay)
        for ema, b in zip(self.generator_ema.buffers(), self.generator.buffers(), strict=True):
            ema.copy_(b)

    def training_step(self, batch: dict, batch_idx: int) -> None:
        opts = self.optimizers()
        opt_g, opt_d = (opts, None) if self.discriminator is None else opts
        out, target = self.generator_output(batch)
        fake, extra = self.split_output(out)
        if isinstance(out, dict) and out.get("target") is not None:
            target = out["target"]
        if fake is not None:
            fake = crop_or_pad(fake, target.size(-1))
        use_d = self.discriminator is not None and self.batches_done >= self.discriminator_start_step
        logs = {}
        if use_d and self.discriminator_first:
            logs.update(self._discriminator_step(opt_d, target, fake))
        logs.update(self._generator_step(opt_g, target, fake, extra, use_d))
        if use_d and not self.discriminator_first:
            logs.update(self._discriminator_step(opt_d, target, fake))
        sch_g, sch_d = self._schedulers
        if sch_g is not None:
            sch_g.step()
        if sch_d is not None and use_d:
            sch_d.step()
        self.batches_done += 1
        logs = {f"train/{k}": v for k, v in logs.items() if v == v}
        logs["train/skipped_g"] = float(self.skipped["g"])
        logs["train/skipped_d"] = float(self.skipped["d"])
        self.log_dict(logs, batch_size=target.size(0))
        self.log("train/batches", float(self.batches_done), batch_size=target.size(0))

    # ------------------------------------------------------------------ validation
    def validation_step(self, batch: dict, batch_idx: int) -> None:
        inputs, target = self.features(batch["audio"], batch["audio_lens"])
        fake = crop_or_pad(self(inputs), target.size(-1)).float()
        size = target.size(0)
        distance = self.mel_distance(fake, target.float())
        self.log("valid/mel_distance", distance, batch_size=size, sync_dist=True, prog_bar=True)
        if self.discriminator is not None:
            # to select among GAN-trained checkpoints: a warm-up checkpoint ranks below them all
            trained = self.batches_done > self.discriminator_start_step
            self.log("valid/mel_distance_gan", distance + (0.0 if trained else WARMUP_OFFSET),
                     batch_size=size, sync_dist=True)
        if batch_idx < self.num_val_audio and self._audio_due():
            self._write_audio(batch["ids"][0], fake[0], target[0])

    def _audio_due(self) -> bool:
        step = self.batches_done
        return (self.trainer is not None and not self.trainer.sanity_checking
                and self.trainer.is_global_zero
                and (self._last_audio_step < 0 or step - self._last_audio_step >= self.val_audio_every))

    def on_validation_epoch_end(self) -> None:
        if self._audio_due():
            self._last_audio_step = self.batches_done

    def _write_audio(self, utt: str, fake: Tensor, real: Tensor) -> None:
        """To TensorBoard / wandb when they log this run, else wav files in exp_dir/samples."""
        step, sr = self.batches_done, self.sample_rate
        fake_np, real_np = fake.detach().cpu().float().numpy(), real.detach().cpu().float().numpy()
        written = False
        for logger in self.loggers:
            name = type(logger).__name__
            if name == "TensorBoardLogger":
                logger.experiment.add_audio(f"generated/{utt}", fake_np[None], step, sr)
                logger.experiment.add_audio(f"real/{utt}", real_np[None], step, sr)
                written = True
            elif name == "WandbLogger":
                logger.log_audio(f"generated/{utt}", [fake_np], step=self.global_step,
                                 sample_rate=[sr])
                written = True
        if not written:
            folder = Path(self.trainer.default_root_dir) / "samples" / f"batch{step:07d}"
            folder.mkdir(parents=True, exist_ok=True)
            sf.write(folder / f"{utt}.wav", fake_np, sr, subtype="FLOAT")

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["gan"] = {
            "batches_done": self.batches_done, "skipped": dict(self.skipped),
            "last_audio_step": self._last_audio_step,
            "balancer": self.balancer.state_dict() if self.balancer is not None else None,
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("gan")
        if state is None:
            return
        self.batches_done = state["batches_done"]
        self.skipped = dict(state["skipped"])
        self._last_audio_step = state["last_audio_step"]
        if self.balancer is not None and state.get("balancer"):
            self.balancer.load_state_dict(state["balancer"])


class GriffinLimTask(pl.LightningModule):
    """The Griffin-Lim baseline as an (untrained) vocoder task: same ``features``/``forward``
    contract as :class:`GANTask`, from the raw log-mel of ``frontend`` (no CMVN)."""

    inference = "audiokit.inference.vocode.Vocoder"

    def __init__(self, sample_rate: int, frontend: dict, n_iter: int = 32,
                 momentum: float = 0.99) -> None:
        super().__init__()
        self.save_hyperparameters()
        from audiokit.models.vocoder.griffin_lim import GriffinLimVocoder

        self.sample_rate = sample_rate
        self.frontend = instantiate({**frontend, "stats_file": None})
        self.generator = GriffinLimVocoder(self.frontend, n_iter, momentum)

    def features(self, wav: Tensor, lens: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if lens is None:
            lens = torch.full((wav.size(0),), wav.size(1), dtype=torch.long, device=wav.device)
        feats, _ = self.frontend.extract(wav.float(), lens)
        hop, win = self.frontend.hop_length, self.frontend.win_length
        return feats, crop_or_pad(wav[:, (win - hop) // 2 :], feats.size(1) * hop)

    def forward(self, feats: Tensor) -> Tensor:
        return self.generator(feats)
