"""Speaker embeddings and verification scores from a trained speaker experiment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from audiokit.data.audio import audio_duration
from audiokit.data.datadir import DataDir, DataDirError, write_kaldi_map
from audiokit.inference.batches import inference_batches
from audiokit.inference.loading import load_task
from audiokit.inference.progress import InferenceProgress
from audiokit.inference.scoring import (
    as_norm_trials,
    cosine_scores,
    l2_normalize,
    speaker_cohort,
)
from audiokit.inference.trials import read_trials, write_embeddings, write_scores
from audiokit.inference.waveform import check_kind, prepare_waveform


class SpeakerEmbedder:
    """``SpeakerEmbedder.from_exp_dir(E)(waveform) -> embedding [D]``.

    ``process_data_dir(D, O)`` writes ``O/embeddings.npz`` (one float32 array per utterance
    id; ``numpy.load`` reads it) and, when ``D`` has a ``trials`` file, ``O/scores``
    (``enroll test score``, cosine similarity; AS-norm against ``cohort_dir``'s speakers
    when given). Recordings shorter than ``min_seconds`` give too few frames for an
    embedding: they are an error naming them (or skipped and listed with on_bad_audio=skip).
    With ``chunk_seconds``, longer recordings are embedded in chunks of that length (the last
    one ending at the recording's end) whose length-normalised embeddings are averaged: the
    length the model was trained on, and bounded memory for long recordings.
    """

    def __init__(self, task, sample_rate: int, device: str = "cpu", min_seconds: float = 0.1,
                 cohort_dir: str | None = None, top_n: int = 300,
                 chunk_seconds: float | None = None) -> None:
        self.task, self.sample_rate, self.device = task, sample_rate, device
        self.min_seconds, self.cohort_dir, self.top_n = min_seconds, cohort_dir, top_n
        self.chunk = round(chunk_seconds * sample_rate) if chunk_seconds else None

    @classmethod
    def from_exp_dir(cls, exp_dir: str | Path, device: str = "cpu", **kwargs) -> SpeakerEmbedder:
        task, cfg = load_task(exp_dir, device)
        check_kind(task, cls, exp_dir)
        return cls(task, int(cfg.data.sample_rate), device, **kwargs)

    @torch.inference_mode()
    def embed_batch(self, audio: torch.Tensor, audio_lens: torch.Tensor) -> np.ndarray:
        if self.chunk is not None and int(audio_lens.max()) > self.chunk:
            return np.stack([self._embed_chunked(a[:n]) for a, n in
                             zip(audio, audio_lens.tolist(), strict=True)])
        emb = self.task.embed(audio.to(self.device), audio_lens.to(self.device))
        return emb.float().cpu().numpy()

    def _embed_chunked(self, waveform: torch.Tensor) -> np.ndarray:
        total, chunk = waveform.shape[-1], self.chunk
        if total <= chunk:
            return self.embed_batch(waveform[None], torch.tensor([total]))[0]
        starts = [*range(0, total - chunk, chunk), total - chunk]
        pieces = torch.stack([waveform[s : s + chunk] for s in starts])
        emb = self.task.embed(pieces.to(self.device),
                              torch.full((len(starts),), chunk, device=self.device))
        return l2_normalize(emb.float().cpu().numpy()).mean(0)

    def __call__(self, waveform, sample_rate: int | None = None) -> np.ndarray:
        """The embedding of one recording: numpy or torch, ``[T]`` or ``[channels, T]``, any
        float dtype, at ``sample_rate`` (default: the model's), or a file path."""
        waveform = prepare_waveform(waveform, self.sample_rate, sample_rate)
        return self.embed_batch(waveform[None], torch.tensor([waveform.shape[-1]]))[0]

    def _too_short(self, data_dir: str, on_bad_audio: str) -> dict[str, str]:
        data = DataDir.load(data_dir)
        durations = data.utt2dur or {u: audio_duration(data.audio_source(u)[0], u)
                                     for u in data.utt_ids}
        short = {u: f"{d:.3f} s, shorter than {self.min_seconds} s"
                 for u, d in durations.items() if d < self.min_seconds}
        if short and on_bad_audio != "skip":
            listed = "; ".join(f"{u} ({why})" for u, why in list(short.items())[:10])
            raise DataDirError(f"{data_dir}: {len(short)} recording(s) too short for an "
                               f"embedding: {listed} (on_bad_audio=skip leaves them out)")
        return short

    def embed_data_dir(self, data_dir: str, progress: InferenceProgress | None = None,
                       **batch_options) -> tuple[dict, dict]:
        """({utt: embedding}, {utt: why skipped}); with ``progress`` (audiokit-infer's
        journal) the embeddings of a run that stopped part way are kept, the rest computed."""
        short = self._too_short(data_dir, batch_options.get("on_bad_audio", "error"))
        progress = progress or InferenceProgress.memory_only(data_dir)
        batches, skipped = inference_batches(data_dir, self.sample_rate, progress=progress,
                                             **batch_options)
        for batch in batches:
            keep = [i for i, u in enumerate(batch["ids"]) if u not in short]
            if keep:
                emb = self.embed_batch(batch["audio"][keep], batch["audio_lens"][keep])
                progress.record({batch["ids"][i]: row.tolist() for i, row in zip(keep, emb, strict=True)})
        embeddings = {u: np.asarray(v, dtype=np.float32) for u, v in progress.results.items()}
        return embeddings, skipped | short

    def process_data_dir(self, data_dir: str, output_dir: str, progress: InferenceProgress | None = None,
                         **batch_options) -> dict[str, str]:
        embeddings, skipped = self.embed_data_dir(data_dir, progress, **batch_options)
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_embeddings(out / "embeddings.npz", embeddings)
        trials_file = Path(data_dir) / "trials"
        if trials_file.is_file():
            trials = read_trials(trials_file, known_utts=embeddings)
            scores = cosine_scores(embeddings, trials)
            if self.cohort_dir:
                cohort, _ = self.embed_data_dir(self.cohort_dir, **batch_options)
                utt2spk = DataDir.load(self.cohort_dir).utt2spk
                if utt2spk is None:
                    raise DataDirError(f"{self.cohort_dir}: the AS-norm cohort needs utt2spk")
                scores = as_norm_trials(scores, embeddings, trials,
                                        speaker_cohort(cohort, utt2spk), self.top_n)
            write_scores(out / "scores", trials, scores)
        if skipped:
            write_kaldi_map(out / "skipped", skipped)
        if progress is not None:
            progress.finish()
        return skipped
