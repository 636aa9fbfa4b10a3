"""Event-token data for music LMs: random crops of whole pieces, transposed in training.

Each piece is ``<sos> events <eos>`` (ids from the token dir). Training draws, per epoch,
about one crop of ``max_len + 1`` tokens per ``max_len`` tokens of each piece (a piece that
fits is taken whole), at a random offset, transposed by a random whole number of semitones
in ``[-transpose, transpose]`` (narrowed so every pitch stays in 0..127); the draws depend
only on ``(seed, epoch)``. Validation reads every piece untransposed in consecutive windows
of ``max_len`` targets (each window starts with the token the last one ended on).
Batches: ``tokens`` [B, L] (padded with ``<sos/eos>``) and ``token_lens``; the task trains
``tokens[:, 1:]`` from ``tokens[:, :-1]``.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from audiokit.data.collate import pad_sequences
from audiokit.data.datadir import DataDirError, read_kaldi_map
from audiokit.music.events import NUM_PITCHES, read_event_config
from audiokit.text.tokenizer import load_token_dir, tokenizer_from_spec


def read_events(path: str | Path, tokenizer) -> dict[str, list[int]]:
    """``{piece: ids}`` of an ``events`` file; an event outside the vocabulary is an error."""
    pieces = {}
    for pid, text in read_kaldi_map(path).items():
        unknown = tokenizer.unknown(text)
        if unknown:
            raise DataDirError(f"{path}: piece '{pid}': events outside the token list "
                               f"{unknown[:5]} (tokenized with another grid?)")
        pieces[pid] = tokenizer.encode(text)
    if not pieces:
        raise DataDirError(f"{path}: no pieces")
    return pieces


class Transposer:
    """Moves the ``on``/``off`` ids of a sequence by whole semitones."""

    def __init__(self, tokenizer) -> None:
        ids = tokenizer._ids
        self.on0, self.off0 = ids["on0"], ids["off0"]

    def pitches(self, seq: np.ndarray) -> np.ndarray:
        on = (seq >= self.on0) & (seq < self.on0 + NUM_PITCHES)
        off = (seq >= self.off0) & (seq < self.off0 + NUM_PITCHES)
        return np.concatenate([seq[on] - self.on0, seq[off] - self.off0])

    def shift(self, seq: np.ndarray, k: int) -> np.ndarray:
        if k == 0:
            return seq
        note = ((seq >= self.on0) & (seq < self.on0 + NUM_PITCHES)) | (
            (seq >= self.off0) & (seq < self.off0 + NUM_PITCHES))
        return np.where(note, seq + k, seq)


class CropSampler(Sampler):
    """Batches of ``(piece, offset, semitones)`` draws, fixed by ``(seed, epoch)``; Lightning
    calls ``set_epoch``. Split over ranks by striding the drawn batches."""

    def __init__(self, lengths: list[int], ranges: list[tuple[int, int]], max_len: int,
                 batch_size: int, transpose: int, seed: int, num_replicas: int = 1,
                 rank: int = 0) -> None:
        self.lengths, self.ranges, self.max_len = lengths, ranges, max_len
        self.batch_size, self.transpose, self.seed = batch_size, transpose, seed
        self.num_replicas, self.rank, self.epoch = num_replicas, rank, 0
        self.counts = [max(1, -(-(n - 1) // max_len)) for n in lengths]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[tuple[int, int, int]]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        pieces = np.repeat(np.arange(len(self.lengths)), self.counts)
        rng.shuffle(pieces)
        draws = []
        for p in pieces.tolist():
            room = self.lengths[p] - (self.max_len + 1)
            offset = int(rng.integers(0, room + 1)) if room > 0 else 0
            lo, hi = self.ranges[p]
            lo, hi = max(lo, -self.transpose), min(hi, self.transpose)
            draws.append((p, offset, int(rng.integers(lo, hi + 1)) if hi >= lo else 0))
        batches = [draws[i:i + self.batch_size] for i in range(0, len(draws), self.batch_size)]
        usable = len(batches) - len(batches) % self.num_replicas if self.num_replicas > 1 else len(batches)
        return batches[self.rank:usable:self.num_replicas]

    def __iter__(self):
        return iter(self._batches())

    def __len__(self) -> int:
        n = -(-sum(self.counts) // self.batch_size)
        return n // self.num_replicas if self.num_replicas > 1 else n


class Crops(Dataset):
    def __init__(self, seqs: list[np.ndarray], max_len: int, transposer: Transposer) -> None:
        self.seqs, self.max_len, self.transposer = seqs, max_len, transposer

    def __len__(self) -> int:
        return len(self.seqs)

    def __getitem__(self, key: tuple[int, int, int]) -> dict:
        p, offset, k = key
        seq = self.transposer.shift(self.seqs[p][offset:offset + self.max_len + 1], k)
        return {"id": f"{p}:{offset}:{k}", "tokens": torch.from_numpy(seq.astype(np.int64))}


def windows(seq: np.ndarray, max_len: int) -> list[np.ndarray]:
    """Consecutive windows of ``max_len`` targets; each repeats the previous one's last token."""
    return [seq[s:s + max_len + 1] for s in range(0, max(len(seq) - 1, 1), max_len)]


class Windows(Dataset):
    def __init__(self, seqs: dict[str, np.ndarray], max_len: int) -> None:
        self.items = [(f"{pid}:{k}", w) for pid, seq in seqs.items()
                      for k, w in enumerate(windows(seq, max_len))]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        pid, w = self.items[index]
        return {"id": pid, "tokens": torch.from_numpy(w.astype(np.int64))}


def collate(items: list[dict], pad: int) -> dict:
    tokens, lens = pad_sequences([it["tokens"] for it in items], pad_value=pad)
    return {"ids": [it["id"] for it in items], "tokens": tokens, "token_lens": lens}


class MusicDataModule(pl.LightningDataModule):
    """Args:
        train_events, valid_events: ``events`` files (``audiokit-prep music-tokens``).
        token_dir: the token dir written with them (token list and time grid).
        max_len: context length in tokens (the model's ``max_len``).
        batch_size: crops per batch.
        transpose: training transposition range in semitones (0 = none).
    """

    def __init__(self, train_events: str, valid_events: str, token_dir: str, *,
                 max_len: int = 512, batch_size: int = 16, transpose: int = 3,
                 num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        if token_dir is None:
            raise ValueError("no token dir: set paths.token_dir (written by "
                             "`audiokit-prep music-tokens`)")
        self.train_events, self.valid_events = train_events, valid_events
        self.max_len, self.batch_size, self.transpose = max_len, batch_size, transpose
        self.num_workers, self.seed = num_workers, seed
        self.token_spec = load_token_dir(token_dir)
        self.event_config = read_event_config(token_dir)
        self.tokenizer = tokenizer_from_spec(self.token_spec)
        self.transposer = Transposer(self.tokenizer)
        self.train_seqs: list[np.ndarray] | None = None
        self.valid_seqs: dict[str, np.ndarray] | None = None

    def task_kwargs(self) -> dict:
        from dataclasses import asdict

        return {"tokenizer": self.token_spec, "events": asdict(self.event_config)}

    def _seqs(self, path: str) -> dict[str, np.ndarray]:
        eos = self.tokenizer.eos_id
        return {pid: np.array([eos, *ids, eos]) for pid, ids in read_events(path, self.tokenizer).items()}

    def setup(self, stage: str | None = None) -> None:
        if self.train_seqs is None and stage in (None, "fit"):
            self.train_seqs = list(self._seqs(self.train_events).values())
        if self.valid_seqs is None and stage in (None, "fit", "validate"):
            self.valid_seqs = self._seqs(self.valid_events)

    def _collate(self, items: list[dict]) -> dict:
        return collate(items, self.tokenizer.eos_id)

    def train_dataloader(self) -> DataLoader:
        ranges = []
        for seq in self.train_seqs:
            p = self.transposer.pitches(seq)
            ranges.append((-int(p.min()), NUM_PITCHES - 1 - int(p.max())) if len(p) else (0, 0))
        trainer = self.trainer
        sampler = CropSampler([len(s) for s in self.train_seqs], ranges, self.max_len,
                              self.batch_size, self.transpose, self.seed,
                              trainer.world_size if trainer else 1,
                              trainer.global_rank if trainer else 0)
        return DataLoader(Crops(self.train_seqs, self.max_len, self.transposer),
                          batch_sampler=sampler, collate_fn=self._collate,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(Windows(self.valid_seqs, self.max_len), batch_size=self.batch_size,
                          collate_fn=self._collate, num_workers=self.num_workers)
