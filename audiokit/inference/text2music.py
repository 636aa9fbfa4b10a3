"""audiokit-infer for text-to-music diffusion: a clip per caption of a data dir.

    music = Text2Music.from_exp_dir("exp/chorales_unet", vocoder_exp_dir="exp/vocoder",
                                    steps=50, guidance=3, seconds=6)
    wav = music("a slow chorale in D minor played on organ")   # [samples] at music.sample_rate

    audiokit-infer exp_dir=<diffusion exp> data_dir=D output_dir=O \
        [vocoder_exp_dir=V] [diffusion.steps=50 diffusion.eta=0 diffusion.guidance=3 \
         diffusion.seed=0 diffusion.seconds=6 diffusion.sampler=ddim ...]

Reads ``D/text`` (one caption per utterance; nothing else is needed; an empty caption is
generated unconditionally, from the null caption). Each caption's log-mel
is sampled by DDIM (``diffusion.steps`` evenly spaced steps, ``diffusion.eta``; or
``diffusion.sampler=ddpm``: all of the schedule's steps) with classifier-free guidance at
scale ``diffusion.guidance`` (1: no guidance; 0: unconditional) and turned into audio by the
vocoder experiment ``vocoder_exp_dir`` (e.g. a HiFi-GAN trained on the same audio; it must
read the same features: sample rate, mel filterbank, window and hop -- a mismatch is an error
naming the key; CMVN statistics may differ, features are converted), or, without one, by
Griffin-Lim from the diffusion experiment's own frontend. ``diffusion.clip_x0`` clamps each
step's predicted clean log-mel (in the model's CMVN units) to +-that value, and
``diffusion.rms`` scales each clip to that RMS level (0.1 is the rendered chorales' level);
both are off by default. Strong guidance pushes the log-mel past the training data's range,
and a clip several times too loud sounds like another instrument. Writes in O:

- ``wav/<utt>.wav`` (exactly ``diffusion.seconds`` long) and ``wav.scp``;
- ``unknown_words``: per caption, the words outside the model's vocabulary (each was read as
  ``<unk>``; also counted in a warning); absent when there are none;
- ``generation.json``: the settings, counts, vocoder and seconds of compute.

Noise (and Griffin-Lim's starting phases) comes from a generator per utterance seeded by
``diffusion.seed`` and the utterance id, so a clip does not depend on its batch or on the
captions before it. A duration longer than
``diffusion.max_seconds`` (default 30 s) is refused; the denoiser is convolutional with
attention over the whole clip, so any length up to that is generated in one piece (the
training windows are ``task.crop_seconds`` long).
"""

from __future__ import annotations

import json
import logging
import math
import time
import zlib
from pathlib import Path

import torch

from audiokit.data.datadir import read_kaldi_map, write_kaldi_map
from audiokit.inference.progress import InferenceProgress, write_wav
from audiokit.inference.text2speech import FEATURE_KEYS, _frontend_settings
from audiokit.utils.errors import UserError

log = logging.getLogger(__name__)

OPTIONS = {"sampler": "ddim", "steps": 50, "eta": 0.0, "guidance": 3.0, "seed": 0,
           "seconds": 6.0, "max_seconds": 30.0, "batch_size": 8, "clip_x0": None, "rms": None}


class Text2Music:
    """Captions -> audio with a trained :class:`~audiokit.tasks.diffusion.DiffusionTask`."""

    def __init__(self, task, sample_rate: int, device: str = "cpu",
                 vocoder_exp_dir: str | None = None, diffusion: dict | None = None) -> None:
        unknown = sorted(set(diffusion or {}) - set(OPTIONS))
        if unknown:
            raise UserError(f"unknown diffusion option(s) {unknown}; valid: {sorted(OPTIONS)}")
        self.options = {**OPTIONS, **(diffusion or {})}
        o = self.options
        if o["sampler"] not in ("ddim", "ddpm"):
            raise UserError(f"diffusion.sampler must be ddim or ddpm, got {o['sampler']!r}")
        if not 1 <= int(o["steps"]) <= task.schedule.num_steps:
            raise UserError(f"diffusion.steps must be in 1..{task.schedule.num_steps} (the "
                            f"model's schedule), got {o['steps']}")
        if float(o["eta"]) < 0:
            raise UserError(f"diffusion.eta must be >= 0, got {o['eta']}")
        if o["rms"] is not None and not 0 < float(o["rms"]) < 1:
            raise UserError(f"diffusion.rms must be between 0 and 1 (full scale), got {o['rms']}")
        seconds = float(o["seconds"])
        if not 0 < seconds <= float(o["max_seconds"]):
            raise UserError(f"diffusion.seconds={seconds}: must be above 0 and at most "
                            f"diffusion.max_seconds={o['max_seconds']} (raise it to generate "
                            "longer clips in one piece)")
        self.task, self.sample_rate, self.device = task, sample_rate, device
        self.num_samples = round(seconds * sample_rate)
        hop = task.frontend.hop_length
        self.frames = max(math.ceil(self.num_samples / hop), 4)  # the vocoders' output: frames x hop
        self._build_vocoder(vocoder_exp_dir)

    @classmethod
    def from_exp_dir(cls, exp_dir: str | Path, device: str = "cpu",
                     vocoder_exp_dir: str | None = None, **options) -> Text2Music:
        """``Text2Music.from_exp_dir(E, steps=50, guidance=3)("a slow chorale ...")``."""
        from audiokit.inference.loading import load_task
        from audiokit.inference.waveform import check_kind

        task, cfg = load_task(exp_dir, device)
        check_kind(task, cls, exp_dir)
        return cls(task, int(cfg.data.sample_rate), device, vocoder_exp_dir, options)

    def _build_vocoder(self, vocoder_exp_dir: str | None) -> None:
        frontend = self.task.frontend
        if vocoder_exp_dir is None:
            from audiokit.models.vocoder.griffin_lim import GriffinLimVocoder

            griffin_lim = GriffinLimVocoder(frontend).to(self.device)
            self._vocode = lambda feats: griffin_lim(self.task.to_log_mel(feats))
            self.vocoder_name = "griffin_lim"
            return
        from audiokit.inference.vocode import Vocoder

        vocoder = Vocoder.from_exp_dir(vocoder_exp_dir, self.device)
        ours, theirs = _frontend_settings(self.task), _frontend_settings(vocoder.task)
        differ = [f"{k}: {ours[k]} here, {theirs[k]} in the vocoder" for k in FEATURE_KEYS
                  if k != "utterance_cmn" and ours.get(k) != theirs.get(k)]
        if theirs.get("utterance_cmn"):
            differ.append("the vocoder subtracts each utterance's mean (utterance_cmn)")
        if differ:
            raise UserError(f"{vocoder_exp_dir}: the vocoder reads other features than this "
                            f"model makes ({'; '.join(differ)})")
        its = vocoder.task.frontend.cmvn

        def vocode(feats: torch.Tensor) -> torch.Tensor:  # our CMVN units -> the vocoder's
            raw = self.task.to_log_mel(feats)
            return vocoder((raw - its.mean.to(raw)) / its.std.to(raw))

        self._vocode = vocode
        self.vocoder_name = str(vocoder_exp_dir)

    def generate(self, captions: list[str], utts: list[str]) -> tuple[torch.Tensor, list[list[str]]]:
        """Audio ``[B, num_samples]`` for the captions, and each caption's unknown words."""
        o = self.options
        text, text_lens, unknown = self.task.encode_captions(captions)
        generators = [torch.Generator().manual_seed(zlib.crc32(f"{o['seed']} {u}".encode()))
                      for u in utts]
        feats = self.task.generate(
            text.to(self.device), text_lens.to(self.device), self.frames, sampler=o["sampler"],
            steps=int(o["steps"]), eta=float(o["eta"]), guidance=float(o["guidance"]),
            generator=generators, clip_x0=None if o["clip_x0"] is None else float(o["clip_x0"]))
        pieces = []
        for utt, f in zip(utts, feats, strict=True):
            # Griffin-Lim starts from random phases: seeded by the utterance, like the mel
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                torch.manual_seed(zlib.crc32(f"{o['seed']} {utt} vocoder".encode()))
                pieces.append(self._vocode(f[None]).float().cpu()[0])
        audio = torch.stack(pieces)
        audio = torch.nn.functional.pad(audio, (0, max(0, self.num_samples - audio.shape[1])))
        audio = audio[:, : self.num_samples]
        if o["rms"] is not None:
            level = audio.square().mean(1, keepdim=True).sqrt().clamp(min=1e-8)
            audio = audio * (float(o["rms"]) / level)
        return audio, unknown

    def __call__(self, caption: str, utt: str = "caption") -> torch.Tensor:
        """One caption -> waveform [num_samples] at ``sample_rate``."""
        if not isinstance(caption, str):
            raise UserError(f"Text2Music: expected a caption (str), got {type(caption).__name__}")
        return self.generate([caption], [utt])[0][0]

    def process_data_dir(self, data_dir: str, output_dir: str,
                         progress: InferenceProgress | None = None, **_options) -> dict[str, str]:
        """Generate a clip for every caption of ``data_dir/text`` (see the module doc)."""
        progress = progress or InferenceProgress.memory_only(output_dir)
        text_file = Path(data_dir) / "text"
        if not text_file.is_file():
            raise UserError(f"{data_dir}: no text file (a text-to-music model reads captions "
                            "from D/text)")
        captions = read_kaldi_map(text_file, allow_empty_value=True)
        out = Path(output_dir)
        (out / "wav").mkdir(parents=True, exist_ok=True)
        todo = progress.begin(list(captions))
        batch = max(1, int(self.options["batch_size"]))
        for i in range(0, len(todo), batch):
            utts = todo[i: i + batch]
            start = time.perf_counter()
            audio, unknown = self.generate([captions[u] for u in utts], utts)
            compute = time.perf_counter() - start
            paths = [write_wav(out / "wav" / f"{u}.wav", a.clamp(-1, 1).numpy(), self.sample_rate)
                     for u, a in zip(utts, audio, strict=True)]
            progress.record({u: [p, unk, compute / len(utts)]
                             for u, p, unk in zip(utts, paths, unknown, strict=True)},
                            files={u: [p] for u, p in zip(utts, paths, strict=True)})
        results = progress.results
        write_kaldi_map(out / "wav.scp", {u: r[0] for u, r in results.items()})
        unknown = {u: " ".join(r[1]) for u, r in results.items() if r[1]}
        unknown_file = out / "unknown_words"
        unknown_file.unlink(missing_ok=True)
        if unknown:
            write_kaldi_map(unknown_file, unknown)
            count = sum(len(r[1]) for r in results.values())
            log.warning("%d word(s) in %d caption(s) are not in the model's vocabulary and were "
                        "read as <unk> (listed in %s)", count, len(unknown), unknown_file)
        report = {**self.options, "vocoder": self.vocoder_name, "num_utts": len(results),
                  "frames": self.frames, "sample_rate": self.sample_rate,
                  "captions_with_unknown_words": len(unknown),
                  "unknown_words": sum(len(r[1]) for r in results.values()),
                  "compute_seconds": round(sum(r[2] for r in results.values()), 3),
                  "device": self.device, "threads": torch.get_num_threads()}
        (out / "generation.json").write_text(json.dumps(report, indent=2) + "\n")
        print(f"Text2Music: {len(results)} clip(s) of {self.options['seconds']} s -> {out}/wav.scp "
              f"({self.options['sampler']}, guidance {self.options['guidance']}, vocoder "
              f"{self.vocoder_name})")
        progress.finish()
        return {}
