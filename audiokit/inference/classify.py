"""Label audio with a trained classification experiment."""

from __future__ import annotations

from pathlib import Path

import torch

from audiokit.data.datadir import write_kaldi_map
from audiokit.inference.batches import inference_batches
from audiokit.inference.loading import load_task
from audiokit.inference.progress import InferenceProgress
from audiokit.inference.waveform import check_kind, prepare_waveform
from audiokit.utils.errors import UserError


class AudioClassifier:
    """``AudioClassifier.from_exp_dir(E)(waveform) -> label``; ``process_data_dir`` writes
    ``utt2label`` for any data dir (other speakers, other files)."""

    def __init__(self, task, sample_rate: int, device: str = "cpu") -> None:
        self.task, self.sample_rate, self.device = task, sample_rate, device
        self.labels: list[str] = task.labels

    @classmethod
    def from_exp_dir(cls, exp_dir: str | Path, device: str = "cpu") -> AudioClassifier:
        task, cfg = load_task(exp_dir, device)
        check_kind(task, cls, exp_dir)
        return cls(task, int(cfg.data.sample_rate), device)

    @torch.inference_mode()
    def posteriors(self, audio: torch.Tensor, audio_lens: torch.Tensor,
                   ids: list[str] | None = None) -> torch.Tensor:
        try:
            logits = self.task(audio.to(self.device), audio_lens.to(self.device))
        except RuntimeError as e:  # a convolution wider than the features of a tiny input
            if "size" not in str(e).lower():
                raise
            n = int(audio_lens.max())
            who = f"utterance(s) {', '.join(ids[:5])}" if ids else "the audio"
            raise UserError(f"{who}: {n} samples ({n / self.sample_rate:.3f} s) or fewer is "
                            f"too short for this model ({e})") from None
        return logits.softmax(-1).cpu()

    def __call__(self, waveform, sample_rate: int | None = None) -> str:
        """Label one recording: numpy or torch, ``[T]`` or ``[channels, T]``, any float
        dtype, at ``sample_rate`` (default: the model's), or a file path
        (:func:`~audiokit.inference.waveform.prepare_waveform`)."""
        waveform = prepare_waveform(waveform, self.sample_rate, sample_rate)
        post = self.posteriors(waveform[None], torch.tensor([waveform.shape[-1]]))
        return self.labels[int(post.argmax())]

    def process_data_dir(self, data_dir: str, output_dir: str, progress: InferenceProgress | None = None,
                         **batch_options) -> dict[str, str]:
        """Write ``utt2label`` and ``utt2posterior``; returns the utterances skipped for bad
        audio. With ``progress`` (audiokit-infer's journal) a run that stopped part way
        continues where it stopped."""
        progress = progress or InferenceProgress.memory_only(output_dir)
        batches, skipped = inference_batches(data_dir, self.sample_rate, progress=progress,
                                             **batch_options)
        for batch in batches:
            post = self.posteriors(batch["audio"], batch["audio_lens"], batch["ids"])
            best = post.argmax(-1)
            progress.record({utt: [self.labels[k], f"{p:.4f}"] for utt, k, p in
                             zip(batch["ids"], best.tolist(), post.max(-1).values.tolist(), strict=True)})
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_kaldi_map(out / "utt2label", {u: r[0] for u, r in progress.results.items()})
        write_kaldi_map(out / "utt2posterior", {u: r[1] for u, r in progress.results.items()})
        if skipped:
            write_kaldi_map(out / "skipped", skipped)
        progress.finish()
        return skipped
