"""Separation and enhancement data: a mixture and its reference sources per utterance.

A data dir's ``wav.scp`` holds the mixtures and ``spk1.scp`` .. ``spkS.scp`` the references
(enhancement: ``spk1.scp`` is the clean speech). Batches are
``{"ids", "mixture": [B, T], "sources": [B, S, T], "lengths": [B]}``, zero-padded; the
losses take ``lengths`` so padding never counts.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
import soundfile as sf
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from audiokit.data.audio import load_audio
from audiokit.data.collate import pad_sequences
from audiokit.data.datadir import DataDir, DataDirError, read_kaldi_map
from audiokit.data.sampler import DurationBatchSampler, EpochFromLightning
from audiokit.data.simulation.mixtures import DynamicMixingDataset

log = logging.getLogger(__name__)


def reference_scps(data_dir: Path, num_sources: int, utt_ids: list[str]) -> list[dict[str, str]]:
    """``spk1.scp`` .. ``spkS.scp``, each checked to name every mixture."""
    scps = []
    for k in range(1, num_sources + 1):
        path = data_dir / f"spk{k}.scp"
        if not path.is_file():
            raise DataDirError(f"{path}: missing; a {num_sources}-source data dir needs "
                               f"spk1.scp .. spk{num_sources}.scp next to wav.scp")
        scp = read_kaldi_map(path)
        missing = [u for u in utt_ids if u not in scp]
        if missing:
            raise DataDirError(f"{path}: no reference for {len(missing)} mixture(s), "
                               f"e.g. '{missing[0]}'")
        scps.append(scp)
    return scps


def check_alignment(utt: str, mixture: str, references: list[str]) -> None:
    """Mixture and references must have the same sample rate and length (headers only)."""
    mix = sf.info(mixture)
    for ref in references:
        info = sf.info(ref)
        if info.samplerate != mix.samplerate or info.frames != mix.frames:
            raise DataDirError(
                f"utterance '{utt}': reference {ref} ({info.frames} samples at "
                f"{info.samplerate} Hz) does not match its mixture {mixture} "
                f"({mix.frames} samples at {mix.samplerate} Hz)")


class SeparationDataset(Dataset):
    """Items ``{"id", "mixture": [T], "sources": [S, T]}`` from a data dir.

    ``segment_seconds`` crops longer items to a random segment (training: more items per
    batch, the same cost per step); ``None`` keeps them whole.
    """

    def __init__(self, data_dir: str | Path, sample_rate: int, num_sources: int, *,
                 segment_seconds: float | None = None, check: bool = True) -> None:
        self.data = DataDir.load(data_dir)
        if self.data.segments is not None:
            raise DataDirError(f"{data_dir}: separation data dirs cannot use segments")
        self.sample_rate, self.num_sources = sample_rate, num_sources
        self.utt_ids = self.data.utt_ids
        self.references = reference_scps(self.data.path, num_sources, self.utt_ids)
        if check:  # catch length / rate mismatches before training, naming the utterance
            for utt in self.utt_ids:
                check_alignment(utt, self.data.wav_scp[utt], [r[utt] for r in self.references])
        self.segment = round(segment_seconds * sample_rate) if segment_seconds else None
        durations = self.data.utt2dur or {
            u: sf.info(self.data.wav_scp[u]).duration for u in self.utt_ids}
        cap = segment_seconds or float("inf")
        self.durations = [min(durations[u], cap) for u in self.utt_ids]

    def __len__(self) -> int:
        return len(self.utt_ids)

    def __getitem__(self, index: int) -> dict:
        utt = self.utt_ids[index]
        mixture = load_audio(self.data.wav_scp[utt], self.sample_rate, utt=utt)
        sources = torch.stack([load_audio(r[utt], self.sample_rate, utt=utt)
                               for r in self.references])
        if self.segment is not None and mixture.shape[-1] > self.segment:
            start = int(torch.randint(mixture.shape[-1] - self.segment + 1, ()))
            mixture = mixture[start : start + self.segment]
            sources = sources[:, start : start + self.segment]
        return {"id": utt, "mixture": mixture, "sources": sources}


def collate_separation(items: list[dict]) -> dict:
    mixture, lengths = pad_sequences([it["mixture"] for it in items])
    sources, _ = pad_sequences([it["sources"].T for it in items])  # pad along time
    return {"ids": [it["id"] for it in items], "mixture": mixture,
            "sources": sources.transpose(1, 2).contiguous(), "lengths": lengths}


class DynamicMixingBatchSampler(EpochFromLightning, Sampler[list[tuple[int, int]]]):
    """Duration-bucketed batches of ``(epoch, index)`` keys for :class:`DynamicMixingDataset`.

    Each epoch's mixtures are known from the seed before any audio is read, so they are
    packed by length like a data dir's (little padding). The epoch travels in the key because
    DataLoader workers' copies of the dataset never see ``set_epoch``.
    """

    def __init__(self, dataset: DynamicMixingDataset, max_seconds: float, *,
                 max_batch_size: int | None = None, seed: int = 0, num_replicas: int = 1,
                 rank: int = 0) -> None:
        self.dataset, self.epoch = dataset, 0
        self.kwargs = {"max_batch_size": max_batch_size, "seed": seed,
                       "num_replicas": num_replicas, "rank": rank}
        self.max_seconds = max_seconds
        self._batches = self._sampler(0)

    def _sampler(self, epoch: int) -> DurationBatchSampler:
        sampler = DurationBatchSampler(self.dataset.durations(epoch), self.max_seconds,
                                       **self.kwargs)
        sampler.set_epoch(epoch)
        return sampler

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self._batches = epoch, self._sampler(epoch)

    def __len__(self) -> int:
        return len(self._batches)

    def __iter__(self):
        for batch in self._batches:
            yield [(self.epoch, i) for i in batch]


class SeparationDataModule(pl.LightningDataModule):
    """Fixed mixture lists (data dirs) for validation, and for training either a data dir or
    ``dynamic_mixing``: fresh mixtures of a single-speaker data dir's utterances every epoch,
    ``{source_dir, epoch_size, level_range_db, mode, speed_factors}``, batched by duration like
    the rest.
    """

    def __init__(self, train_dir: str, valid_dir: str, sample_rate: int, num_sources: int, *,
                 max_batch_seconds: float = 16.0, max_batch_size: int | None = None,
                 segment_seconds: float | None = None, dynamic_mixing: dict | None = None,
                 num_workers: int = 2, seed: int = 0) -> None:
        super().__init__()
        self.train_dir, self.valid_dir = train_dir, valid_dir
        self.sample_rate, self.num_sources = sample_rate, num_sources
        self.max_batch_seconds, self.max_batch_size = max_batch_seconds, max_batch_size
        self.segment_seconds = segment_seconds
        self.dynamic_mixing = dict(dynamic_mixing) if dynamic_mixing else None
        self.num_workers, self.seed = num_workers, seed
        self.train_set = self.valid_set = None

    def task_kwargs(self) -> dict:
        return {"num_sources": self.num_sources, "sample_rate": self.sample_rate}

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None and stage in (None, "fit"):
            if self.dynamic_mixing:
                if not self.dynamic_mixing.get("source_dir"):
                    raise DataDirError("data.dynamic_mixing needs a single-speaker data dir to "
                                       "mix: set paths.source_dir=...")
                dm = dict(self.dynamic_mixing)
                dm["level_range_db"] = tuple(dm.get("level_range_db", (-5.0, 5.0)))
                self.train_set = DynamicMixingDataset(
                    dm.pop("source_dir"), num_sources=self.num_sources,
                    sample_rate=self.sample_rate, seed=self.seed,
                    segment_seconds=self.segment_seconds, **dm)
            else:
                self.train_set = SeparationDataset(self.train_dir, self.sample_rate,
                                                   self.num_sources,
                                                   segment_seconds=self.segment_seconds)
        if self.valid_set is None and stage in (None, "fit", "validate"):
            self.valid_set = SeparationDataset(self.valid_dir, self.sample_rate, self.num_sources)

    def _ranks(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer else (1, 0)

    def _loader(self, dataset: Dataset, sampler: Sampler) -> DataLoader:
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_separation,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        world, rank = self._ranks()
        if isinstance(self.train_set, DynamicMixingDataset):
            sampler = DynamicMixingBatchSampler(
                self.train_set, self.max_batch_seconds, max_batch_size=self.max_batch_size,
                seed=self.seed, num_replicas=world, rank=rank)
        else:
            sampler = DurationBatchSampler(self.train_set.durations, self.max_batch_seconds,
                                           max_batch_size=self.max_batch_size, seed=self.seed,
                                           num_replicas=world, rank=rank)
        return self._loader(self.train_set, sampler)

    def val_dataloader(self) -> DataLoader:
        world, rank = self._ranks()
        sampler = DurationBatchSampler(self.valid_set.durations, self.max_batch_seconds,
                                       max_batch_size=self.max_batch_size, shuffle=False,
                                       num_replicas=world, rank=rank)
        return self._loader(self.valid_set, sampler)
