"""Transcribe audio with a trained Whisper-style experiment."""

from __future__ import annotations

from pathlib import Path

import torch

from audiokit.data.datadir import write_kaldi_map
from audiokit.inference.batches import inference_batches
from audiokit.inference.loading import load_task
from audiokit.inference.progress import InferenceProgress
from audiokit.models.whisper.checkpoint import save_openai_checkpoint
from audiokit.models.whisper.decoding import DecodingResult


class Transcriber:
    """``Transcriber.from_exp_dir(E)(waveform) -> text``; ``process_data_dir`` writes ``text``
    (and ``lang``, the identified language, when the model knows several) for any data dir.

    ``decoding`` overrides the task's search settings (:class:`DecodingOptions` fields:
    beam_size or beam, language, task, timestamps, max_new_tokens, max_initial_timestamp,
    suppress_blank, suppress_non_speech, suppress_special_tokens; ``mode`` may only be
    ``attention``). The suppression defaults are OpenAI's (``whisper.decoding``);
    ``suppress_special_tokens=True`` also bans language tokens, and timestamps when they are
    off, as audiokit did before.
    """

    def __init__(self, task, sample_rate: int, device: str = "cpu",
                 decoding: dict | None = None, lm_exp_dir: str | None = None) -> None:
        if lm_exp_dir:
            raise ValueError("the Whisper pipeline has no language-model fusion (lm_exp_dir)")
        self.task, self.sample_rate, self.device = task, sample_rate, device
        self.options = task.decoding_options(**(decoding or {}))

    @classmethod
    def from_exp_dir(cls, exp_dir: str | Path, device: str = "cpu", **kwargs) -> Transcriber:
        task, cfg = load_task(exp_dir, device)
        return cls(task, int(cfg.data.sample_rate), device, **kwargs)

    def transcribe(self, audio: torch.Tensor, audio_lens: torch.Tensor) -> list[DecodingResult]:
        return self.task.transcribe(audio, audio_lens, self.options)

    def __call__(self, waveform: torch.Tensor) -> str:
        """Transcribe one mono waveform ``[T]`` sampled at ``self.sample_rate``."""
        return self.transcribe(waveform[None], torch.tensor([waveform.shape[-1]]))[0].text

    def process_data_dir(self, data_dir: str, output_dir: str, progress: InferenceProgress | None = None,
                         **batch_options) -> dict[str, str]:
        """Write ``output_dir/text`` (and ``lang`` for a multilingual model); returns the
        utterances skipped for bad audio, if allowed. With ``progress`` (audiokit-infer's
        journal) a run that stopped part way continues."""
        progress = progress or InferenceProgress.memory_only(output_dir)
        batches, skipped = inference_batches(data_dir, self.sample_rate, progress=progress,
                                             **batch_options)
        for batch in batches:
            results = self.transcribe(batch["audio"], batch["audio_lens"])
            progress.record({utt: [result.text, result.language]
                             for utt, result in zip(batch["ids"], results, strict=True)})
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_kaldi_map(out / "text", {u: r[0] for u, r in progress.results.items()})
        if len(self.task.vocab.languages) > 1:
            write_kaldi_map(out / "lang", {u: r[1] for u, r in progress.results.items()})
        if skipped:
            write_kaldi_map(out / "skipped", skipped)
        progress.finish()
        return skipped

    def export_openai_checkpoint(self, path: str | Path) -> Path:
        """Save the network in OpenAI's checkpoint format (plus the tokenizer spec)."""
        return save_openai_checkpoint(self.task.model, path, self.task.vocab)
