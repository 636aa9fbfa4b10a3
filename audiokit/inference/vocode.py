"""Vocode with a trained vocoder experiment: features -> waveform, and copy synthesis of data dirs.

``Vocoder.from_exp_dir(E)(mel)`` turns log-mel features ``[frames, n_mels]`` (or a batch
``[B, frames, n_mels]``) from the experiment's own frontend into a waveform: the entry point
for TTS models (``vocoder_exp_dir=``). ``Vocoder.features(wav)`` gives those features.

``audiokit-infer exp_dir=E data_dir=D output_dir=O`` copy-synthesises every utterance of D
(its own features, vocoded) into ``O/wav/<utt>.wav`` and ``O/wav.scp``, and the real-time
factor (compute seconds / audio seconds, batch 1) into ``O/rtf.json``. The output has the
input's length and alignment: the samples the frames do not cover (the first
``(win - hop) / 2`` and the tail) are zeros, so it can be scored against the original.

Works for any task with ``features(wav, lens) -> (inputs, target)`` and ``forward(inputs)``:
:class:`audiokit.tasks.gan.GANTask` and the Griffin-Lim baseline
(:class:`audiokit.tasks.gan.GriffinLimTask`).
"""

from __future__ import annotations

import json
import time
import zlib
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from audiokit.data.audio import load_audio
from audiokit.data.datadir import DataDir, write_kaldi_map
from audiokit.data.validate import screen_bad_audio
from audiokit.inference.loading import MODEL_FILE, load_task
from audiokit.inference.progress import InferenceProgress, write_wav
from audiokit.utils import run_info


class Vocoder:
    def __init__(self, task, sample_rate: int, device: str = "cpu") -> None:
        self.task, self.sample_rate, self.device = task, sample_rate, device
        for gen in (getattr(task, "generator", None), getattr(task, "generator_ema", None)):
            if hasattr(gen, "remove_weight_norm"):  # plain weights: faster, same output
                gen.remove_weight_norm()
        frontend = task.frontend
        if frontend is None:
            raise ValueError("this experiment has no frontend: it is not a vocoder (a codec?)")
        self.hop_length, self.win_length = frontend.hop_length, frontend.win_length
        self.offset = (self.win_length - self.hop_length) // 2

    @classmethod
    def from_exp_dir(cls, exp_dir: str | Path, device: str = "cpu") -> Vocoder:
        task, cfg = load_task(exp_dir, device)
        return cls(task, int(cfg.data.sample_rate), device)

    @torch.inference_mode()
    def features(self, waveform: torch.Tensor) -> torch.Tensor:
        """The experiment's features of one waveform [T] -> [frames, dim]."""
        feats, _ = self.task.features(waveform.to(self.device, torch.float32)[None])
        return feats[0]

    @torch.inference_mode()
    def __call__(self, feats: torch.Tensor) -> torch.Tensor:
        """[frames, dim] -> [frames * hop], or [B, frames, dim] -> [B, frames * hop]."""
        single = feats.dim() == 2
        x = feats[None] if single else feats
        wav = self.task(x.to(self.device, torch.float32)).float().cpu()
        return wav[0] if single else wav

    def copy_synthesis(self, waveform: torch.Tensor) -> torch.Tensor:
        """Vocode a waveform's own features; same length and alignment as the input."""
        out = self(self.features(waveform))
        out = F.pad(out, (self.offset, 0))[: waveform.numel()]
        return F.pad(out, (0, waveform.numel() - out.numel()))

    def process_data_dir(self, data_dir: str, output_dir: str, *, on_bad_audio: str = "error",
                         downmix: bool = False, progress: InferenceProgress | None = None,
                         **_batch_options) -> dict[str, str]:
        """Write ``output_dir/wav/<utt>.wav`` (float, the model's sample rate; each written
        whole or not at all) and ``wav.scp``; returns the utterances skipped for bad audio, if
        allowed. With ``progress`` (audiokit-infer's journal) a run that stopped part way
        continues; rtf.json then sums the compute time of both runs."""
        progress = progress or InferenceProgress.memory_only(output_dir)
        skipped = screen_bad_audio(data_dir, on_bad_audio, downmix=downmix)
        data = DataDir.load(data_dir)
        out = Path(output_dir)
        (out / "wav").mkdir(parents=True, exist_ok=True)
        for utt in progress.begin([u for u in data.utt_ids if u not in skipped]):
            source, start, end = data.audio_source(utt)
            wav = load_audio(source, self.sample_rate, utt=utt, start=start, end=end, downmix=downmix)
            start_time = time.perf_counter()
            # seeded by the utterance (Griffin-Lim starts from random phases): its audio does
            # not depend on what came before it, so a continued run writes what one run would
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(zlib.crc32(utt.encode()))
                resynth = self.copy_synthesis(wav)
            compute = time.perf_counter() - start_time
            path = write_wav(out / "wav" / f"{utt}.wav", resynth.numpy(), self.sample_rate)
            progress.record({utt: [path, compute, wav.numel() / self.sample_rate]},
                            files={utt: [path]})
        results = progress.results
        write_kaldi_map(out / "wav.scp", {u: r[0] for u, r in results.items()})
        compute = sum(r[1] for r in results.values())
        audio_seconds = sum(r[2] for r in results.values())
        # features + vocoding, one utterance at a time (batch 1), file I/O excluded
        rtf = {"rtf": compute / max(audio_seconds, 1e-9), "compute_seconds": round(compute, 3),
               "audio_seconds": round(audio_seconds, 3), "num_utts": len(results), "batch_size": 1,
               "device": self.device, "threads": torch.get_num_threads()}
        (out / "rtf.json").write_text(json.dumps(rtf, indent=2) + "\n")
        if skipped:
            write_kaldi_map(out / "skipped", skipped)
        progress.finish()
        return skipped


def write_griffin_lim_exp_dir(exp_dir: str | Path, like: str | Path | None = None, *,
                              sample_rate: int | None = None, frontend: dict | None = None,
                              n_iter: int = 32) -> Path:
    """An experiment dir for the Griffin-Lim baseline (nothing to train): the frontend of the
    vocoder experiment ``like`` (or ``frontend`` + ``sample_rate``), so both vocode the same
    features. ``audiokit-infer`` and ``Vocoder.from_exp_dir`` then use it like any vocoder."""
    from audiokit.tasks.gan import GriffinLimTask

    if like is not None:
        cfg = OmegaConf.to_container(OmegaConf.load(Path(like) / "config.yaml"), resolve=True)
        sample_rate, frontend = int(cfg["data"]["sample_rate"]), cfg["frontend"]
    if sample_rate is None or frontend is None:
        raise ValueError("give a vocoder exp dir to copy the frontend from, or frontend and sample_rate")
    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    model = GriffinLimTask(sample_rate, frontend, n_iter)
    cls = type(model)
    torch.save({"task": f"{cls.__module__}.{cls.__qualname__}", "hparams": dict(model.hparams),
                "state_dict": model.state_dict(), "best_checkpoint": "", "averaged": []},
               exp_dir / MODEL_FILE)
    config = {"name": "griffin_lim", "data": {"sample_rate": sample_rate}, "frontend": frontend,
              "model": {"n_iter": n_iter}}
    (exp_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(config)))
    run_info.write(exp_dir / "run_info.json")  # the command that wrote it; nothing trained
    return exp_dir


def main(argv: list[str] | None = None) -> None:
    """python -m audiokit.inference.vocode griffin-lim OUT_EXP_DIR LIKE_EXP_DIR [N_ITER]"""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (3, 4) or args[0] != "griffin-lim":
        raise SystemExit("usage: python -m audiokit.inference.vocode griffin-lim OUT_EXP_DIR "
                         "LIKE_VOCODER_EXP_DIR [N_ITER]")
    path = write_griffin_lim_exp_dir(args[1], args[2], n_iter=int(args[3]) if len(args) == 4 else 32)
    print(f"wrote the Griffin-Lim experiment dir {path}")


if __name__ == "__main__":
    main()
