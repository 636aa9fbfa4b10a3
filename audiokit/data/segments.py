"""Random fixed-length waveform segments for GAN training (vocoders, codecs); whole
utterances, one per batch, for validation."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from pathlib import Path

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from audiokit.data.collate import collate_audio
from audiokit.data.dataset import AudioDataset
from audiokit.data.resumable import ResumableDataLoader, SeededItems
from audiokit.data.sampler import EpochFromLightning
from audiokit.data.validate import screen_bad_audio

log = logging.getLogger(__name__)


class SegmentDataset(Dataset):
    """Items ``{"id", "audio": [segment_samples]}``: a random crop of each utterance.

    Indexed by ``(index, epoch)`` pairs (the training loader's
    :class:`~audiokit.data.resumable.SeededItems` passes the epoch on): the crop offset is
    drawn from ``(seed, epoch, index)``, so a resumed run sees the same segments as an
    uninterrupted one, whatever the worker processes did before.

    Utterances shorter than one segment are zero-padded at the end (``short="pad"``) or left
    out (``short="skip"``); either way they are listed once in the log (never a crash later in
    the discriminator).
    """

    def __init__(self, utterances: AudioDataset, segment_samples: int, *, short: str = "pad",
                 seed: int = 0) -> None:
        if short not in ("pad", "skip"):
            raise ValueError(f"data.short must be 'pad' or 'skip', got {short!r}")
        if segment_samples <= 0:
            raise ValueError(f"segment length must be positive, got {segment_samples} samples")
        self.utterances = utterances
        self.segment = segment_samples
        self.seed = seed
        sr = utterances.sample_rate
        short_ids = [i for i, d in enumerate(utterances.durations) if round(d * sr) < segment_samples]
        if short_ids:
            names = ", ".join(utterances.utt_ids[i] for i in short_ids[:10])
            more = " ..." if len(short_ids) > 10 else ""
            log.warning("%s: %d utterance(s) shorter than one %d-sample segment are %s: %s%s",
                        utterances.data.path, len(short_ids), segment_samples,
                        "zero-padded" if short == "pad" else "left out", names, more)
        skip = set(short_ids) if short == "skip" else set()
        self.indices = [i for i in range(len(utterances)) if i not in skip]
        if not self.indices:
            raise ValueError(f"{utterances.data.path}: no utterance is as long as one segment "
                             f"({segment_samples} samples); use data.short=pad or shorter segments")
        self.short_ids = [utterances.utt_ids[i] for i in short_ids]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: tuple[int, int] | int) -> dict:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        item = self.utterances[self.indices[index]]
        audio = item["audio"]
        if audio.numel() < self.segment:
            audio = F.pad(audio, (0, self.segment - audio.numel()))
        else:
            rng = random.Random(f"{self.seed}-{epoch}-{index}")
            start = rng.randint(0, audio.numel() - self.segment)
            audio = audio[start : start + self.segment]
        return {"id": item["id"], "audio": audio}


class SegmentBatchSampler(EpochFromLightning, Sampler[list[int]]):
    """Shuffled fixed-size batches of indices; the last partial batch is dropped (GAN
    statistics want equal batches). Over DDP ranks each rank takes every
    ``num_replicas``-th batch of one shared shuffle, all ranks the same count.

    ``epoch`` (set by Lightning through ``set_epoch``) and ``iter_from(start)`` are what
    :class:`~audiokit.data.resumable.ResumableDataLoader` needs to continue an epoch mid-way;
    it hands the epoch to the dataset with each index."""

    def __init__(self, size: int, batch_size: int, *, seed: int = 0, num_replicas: int = 1,
                 rank: int = 0) -> None:
        if size < batch_size * num_replicas:
            raise ValueError(f"{size} training segments cannot fill one batch of {batch_size} "
                             f"on each of {num_replicas} rank(s)")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.num_replicas, self.rank = num_replicas, rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[list[int]]:
        """This rank's batches of the current epoch from its ``start``-th on."""
        order = list(range(self.size))
        random.Random(f"{self.seed}-{self.epoch}").shuffle(order)
        for b in range(start, len(self)):
            first = (b * self.num_replicas + self.rank) * self.batch_size
            yield order[first : first + self.batch_size]

    def __len__(self) -> int:
        return self.size // (self.batch_size * self.num_replicas)


class SegmentDataModule(pl.LightningDataModule):
    """Train dir -> batches of random ``segment_seconds`` crops ``{"ids", "audio": [B, T],
    "audio_lens"}``; valid dir -> whole utterances, batch size 1 (no padding in the metrics).

    ``max_valid_utterances`` bounds validation time (the first N utterances of the valid dir).
    Bad audio files are screened as in :class:`~audiokit.data.datamodule.AudioDataModule`.
    """

    def __init__(self, train_dir: str, valid_dir: str, sample_rate: int, segment_seconds: float,
                 batch_size: int = 16, *, short: str = "pad", max_valid_utterances: int | None = None,
                 num_workers: int = 2, on_bad_audio: str = "error", seed: int = 0,
                 report_dir: str | None = None) -> None:
        super().__init__()
        self.train_dir, self.valid_dir = train_dir, valid_dir
        self.sample_rate = sample_rate
        self.segment_samples = int(round(segment_seconds * sample_rate))
        self.batch_size, self.short = batch_size, short
        self.max_valid_utterances = max_valid_utterances
        self.num_workers, self.on_bad_audio = num_workers, on_bad_audio
        self.seed, self.report_dir = seed, report_dir
        self.train_set: SegmentDataset | None = None
        self.valid_set: AudioDataset | None = None

    def task_kwargs(self) -> dict:
        return {"sample_rate": self.sample_rate}

    def _utterances(self, data_dir: str) -> AudioDataset:
        report = None
        if self.report_dir is not None:
            report = Path(self.report_dir) / f"bad_audio.{Path(data_dir).name}.txt"
        bad = screen_bad_audio(data_dir, self.on_bad_audio, report=report,
                               skip_hint="data.on_bad_audio=skip")
        return AudioDataset(data_dir, self.sample_rate, exclude=bad)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None and stage in (None, "fit"):
            self.train_set = SegmentDataset(self._utterances(self.train_dir), self.segment_samples,
                                            short=self.short, seed=self.seed)
        if self.valid_set is None and stage in (None, "fit", "validate"):
            self.valid_set = self._utterances(self.valid_dir)
            if self.max_valid_utterances is not None:
                self.valid_set.utt_ids = self.valid_set.utt_ids[: self.max_valid_utterances]

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        sampler = SegmentBatchSampler(
            len(self.train_set), self.batch_size, seed=self.seed,
            num_replicas=trainer.world_size if trainer else 1,
            rank=trainer.global_rank if trainer else 0)
        # resumes mid-epoch where it stopped, with the same crops (audiokit/data/resumable.py)
        return ResumableDataLoader(SeededItems(self.train_set, self.seed, with_epoch=True),
                                   batch_sampler=sampler, seed=self.seed, collate_fn=collate_audio,
                                   num_workers=self.num_workers,
                                   persistent_workers=self.num_workers > 0)

    def val_dataloader(self) -> DataLoader:
        # every rank validates all utterances: metrics are averaged with sync_dist anyway;
        # a generator of its own: starting validation draws nothing from the global RNG
        return DataLoader(self.valid_set, batch_size=1, collate_fn=collate_audio,
                          num_workers=min(self.num_workers, 1),
                          generator=torch.Generator().manual_seed(self.seed))


def crop_or_pad(x: torch.Tensor, length: int) -> torch.Tensor:
    """Cut or zero-pad the last dimension to ``length``."""
    if x.size(-1) >= length:
        return x[..., :length]
    return F.pad(x, (0, length - x.size(-1)))
