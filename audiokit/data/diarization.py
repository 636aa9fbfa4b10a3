"""Diarization data: recordings with a reference ``rttm``, as frame-level speaker activity.

A data dir's ``wav.scp`` lists recordings and its ``rttm`` who speaks when. Training items are
chunks of ``chunk_seconds`` (the whole recording when ``None``) with labels ``[frames, S]``
at ``frame_shift`` seconds: frame ``i`` is active for a speaker when its centre lies in one of
that speaker's turns. The speakers of a chunk are those who speak in it, in order of first
appearance; batches pad them to the largest count with zero columns, and ``num_speakers``
says how many are real (what EEND-EDA learns to count).

Batches are ``{"ids", "audio": [B, T], "audio_lens": [B], "labels": [B, F, S],
"label_lens": [B], "num_speakers": [B]}``.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from audiokit.data.audio import audio_duration, load_audio
from audiokit.data.collate import pad_sequences
from audiokit.data.datadir import DataDir, DataDirError
from audiokit.data.rttm import Turn, frame_labels, read_rttm
from audiokit.data.sampler import DurationBatchSampler


def reference_turns(data: DataDir) -> dict[str, list[Turn]]:
    """The data dir's ``rttm``, checked to cover every recording of ``wav.scp``."""
    path = data.path / "rttm"
    if not path.is_file():
        raise DataDirError(f"{path}: missing; diarization data dirs need a reference rttm")
    turns = read_rttm(path)
    missing = [r for r in data.utt_ids if r not in turns]
    if missing:
        # A recording with nobody speaking has no RTTM line; say so rather than guess.
        raise DataDirError(f"{path}: no turns for {len(missing)} recording(s) of wav.scp, "
                           f"e.g. '{missing[0]}' (a recording without speech cannot train)")
    return turns


def speakers_in_order(turns: list[Turn]) -> list[str]:
    seen: dict[str, None] = {}
    for turn in sorted(turns, key=lambda t: t.start):
        seen.setdefault(turn.speaker, None)
    return list(seen)


class DiarizationDataset(Dataset):
    """Items ``{"id", "audio": [T], "labels": [F, S]}``: chunks of the recordings in a data dir.

    Chunks start every ``chunk_step`` seconds (default: ``chunk_seconds``, no overlap); the
    last one of a recording ends at its end. ``max_speakers`` is an error guard: a recording
    with more speakers than the model can output would train it on an impossible target.
    """

    def __init__(self, data_dir: str | Path, sample_rate: int, *, frame_shift: float = 0.01,
                 chunk_seconds: float | None = None, chunk_step: float | None = None,
                 max_speakers: int | None = None) -> None:
        self.data = DataDir.load(data_dir)
        if self.data.segments is not None:
            raise DataDirError(f"{data_dir}: diarization data dirs list whole recordings "
                               "(no segments file)")
        self.sample_rate, self.frame_shift = sample_rate, frame_shift
        self.turns = reference_turns(self.data)
        durations = self.data.utt2dur or {
            r: audio_duration(self.data.wav_scp[r], r) for r in self.data.utt_ids}
        self.chunks: list[tuple[str, str, float, float]] = []  # (id, recording, start, end)
        for reco in self.data.utt_ids:
            bounds = chunk_bounds(durations[reco], chunk_seconds, chunk_step)
            self.chunks.extend((reco if len(bounds) == 1 else f"{reco}-{s:07.2f}", reco, s, e)
                               for s, e in bounds)
        self.durations = [e - s for _, _, s, e in self.chunks]
        if max_speakers is not None:
            for reco, turns in self.turns.items():
                n = len({t.speaker for t in turns})
                if reco in durations and n > max_speakers:
                    raise DataDirError(f"{self.data.path / 'rttm'}: recording '{reco}' has {n} "
                                       f"speakers, more than max_speakers={max_speakers}")

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, index: int) -> dict:
        chunk_id, reco, start, end = self.chunks[index]
        # only the chunk is read: a meeting is an hour long
        audio = load_audio(self.data.wav_scp[reco], self.sample_rate, utt=reco, start=start,
                           end=end)
        num_frames = math.ceil(audio.shape[-1] / (self.frame_shift * self.sample_rate))
        turns = [t for t in self.turns[reco] if t.start < end and t.end > start]
        labels = frame_labels(turns, speakers_in_order(turns), num_frames, self.frame_shift,
                              offset=start)
        labels = labels[:, labels.any(0)]  # a turn grazing the chunk edge may cover no frame
        return {"id": chunk_id, "audio": audio, "labels": torch.from_numpy(labels)}


def chunk_bounds(duration: float, chunk_seconds: float | None,
                 chunk_step: float | None = None) -> list[tuple[float, float]]:
    """``[(start, end)]`` covering ``[0, duration]`` with chunks of ``chunk_seconds``."""
    if not chunk_seconds or duration <= chunk_seconds:
        return [(0.0, duration)]
    step = chunk_step or chunk_seconds
    starts = np.arange(0.0, max(duration - chunk_seconds, 0.0) + 1e-9, step).tolist()
    if starts[-1] + chunk_seconds < duration:  # the tail gets a chunk that ends at the end
        starts.append(duration - chunk_seconds)
    return [(round(s, 3), round(min(s + chunk_seconds, duration), 3)) for s in starts]


def collate_diarization(items: list[dict]) -> dict:
    audio, audio_lens = pad_sequences([it["audio"] for it in items])
    num_speakers = torch.tensor([it["labels"].shape[1] for it in items])
    width = max(int(num_speakers.max()), 1)
    padded = [torch.nn.functional.pad(it["labels"], (0, width - it["labels"].shape[1]))
              for it in items]
    labels, label_lens = pad_sequences(padded)
    return {"ids": [it["id"] for it in items], "audio": audio, "audio_lens": audio_lens,
            "labels": labels, "label_lens": label_lens, "num_speakers": num_speakers}


class DiarizationDataModule(pl.LightningDataModule):
    """Training and validation chunks of diarization data dirs, batched by duration."""

    def __init__(self, train_dir: str, valid_dir: str, sample_rate: int, *,
                 frame_shift: float = 0.01, chunk_seconds: float | None = None,
                 valid_chunk_seconds: float | None = None, max_batch_seconds: float = 120.0,
                 max_batch_size: int | None = None, max_speakers: int | None = None,
                 num_workers: int = 2, seed: int = 0) -> None:
        super().__init__()
        self.train_dir, self.valid_dir = train_dir, valid_dir
        self.sample_rate, self.frame_shift = sample_rate, frame_shift
        self.chunk_seconds, self.valid_chunk_seconds = chunk_seconds, valid_chunk_seconds
        self.max_batch_seconds, self.max_batch_size = max_batch_seconds, max_batch_size
        self.max_speakers, self.num_workers, self.seed = max_speakers, num_workers, seed
        self.train_set = self.valid_set = None

    def task_kwargs(self) -> dict:
        return {"sample_rate": self.sample_rate, "frame_shift": self.frame_shift}

    def _dataset(self, data_dir: str, chunk_seconds: float | None) -> DiarizationDataset:
        return DiarizationDataset(data_dir, self.sample_rate, frame_shift=self.frame_shift,
                                  chunk_seconds=chunk_seconds, max_speakers=self.max_speakers)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None and stage in (None, "fit"):
            self.train_set = self._dataset(self.train_dir, self.chunk_seconds)
        if self.valid_set is None and stage in (None, "fit", "validate"):
            self.valid_set = self._dataset(self.valid_dir, self.valid_chunk_seconds)

    def _loader(self, dataset: DiarizationDataset, shuffle: bool) -> DataLoader:
        trainer = self.trainer
        world, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        sampler = DurationBatchSampler(dataset.durations, self.max_batch_seconds,
                                       max_batch_size=self.max_batch_size, shuffle=shuffle,
                                       seed=self.seed, num_replicas=world, rank=rank)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_diarization,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.valid_set, shuffle=False)
