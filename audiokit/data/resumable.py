"""A training DataLoader that a run killed mid-epoch resumes exactly where it stopped.

Lightning saves the ``state_dict`` of a DataLoader that has one in every checkpoint and hands
it back on resume (``FitLoop.on_save_checkpoint`` / ``_load_combined_loader_states``); a plain
DataLoader has none, and a resumed run would start its epoch again from the first batch.
Three things make the continued run see what the uninterrupted one would have seen:

- the position: how many batches of which epoch training has taken (counted as Lightning
  takes them, not as workers prefetch them), so the resumed epoch starts at the next batch;
- no draw from the global torch RNG when an epoch's iterator starts (the workers' base seed
  comes from a generator seeded by ``(seed, epoch)``), so the RNG state restored from the
  checkpoint (:class:`audiokit.callbacks.ExactResume`) is the one the next batch uses;
- in workers, each item's random draws (augmentation) seeded by ``(seed, epoch, index)``: a
  resumed run starts fresh workers, which otherwise would not be where the old ones were.

The iterator starts at the first batch taken, not at ``iter()``: Lightning calls ``iter()``
before it tells the sampler the epoch of a resumed run (``FitLoop.setup_data``, then
``on_advance_start``), and an eager start would use the wrong epoch's batches.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info


def item_seed(seed: int, epoch: int, index: int) -> int:
    return (seed * 1_000_003 + epoch) * 10_000_019 + index


class SeededItems(Dataset):
    """``dataset[index]`` for keys ``(epoch, index)`` (``dataset[(index, epoch)]`` with
    ``with_epoch``: items that depend on the epoch themselves, as
    :class:`~audiokit.data.segments.SegmentDataset`'s crops); inside a worker, torch, numpy
    and Python RNGs are seeded from ``(seed, epoch, index)`` first. In the main process
    (``num_workers=0``) the global RNG runs on and is saved with the checkpoint instead."""

    def __init__(self, dataset: Dataset, seed: int, *, with_epoch: bool = False) -> None:
        self.dataset = dataset
        self.seed = seed
        self.with_epoch = with_epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        if get_worker_info() is not None:
            s = item_seed(self.seed, epoch, index)
            torch.manual_seed(s)
            np.random.seed(s % 2**32)
            random.seed(s)
        return self.dataset[(index, epoch) if self.with_epoch else index]


class _Positioned:
    """The loader's batches of the current epoch from where it starts, as ``(epoch, index)``
    keys; its length stays the whole epoch's (Lightning counts from the restored batch
    number). Read at each ``iter()``: persistent workers' iterators keep this object."""

    def __init__(self, loader: ResumableDataLoader) -> None:
        self.loader = loader

    def __iter__(self):
        sampler = self.loader.batch_sampler
        epoch = sampler.epoch
        for batch in sampler.iter_from(self.loader._start_at):
            yield [(epoch, i) for i in batch]

    def __len__(self) -> int:
        return len(self.loader.batch_sampler)


class _StartOnFirstBatch:
    def __init__(self, loader: ResumableDataLoader) -> None:
        self.loader, self.it = loader, None

    def __iter__(self):
        return self

    def __next__(self):
        if self.it is None:
            self.it = self.loader._start()
        batch = next(self.it)
        self.loader._taken += 1
        return batch


class ResumableDataLoader(DataLoader):
    """A DataLoader over :class:`SeededItems` with a batch sampler that has ``epoch`` and
    ``iter_from(start)`` (:class:`audiokit.data.sampler.DurationBatchSampler`,
    :class:`audiokit.data.segments.SegmentBatchSampler`)."""

    def __init__(self, dataset: SeededItems, *, batch_sampler, seed: int = 0, **kwargs) -> None:
        super().__init__(dataset, batch_sampler=batch_sampler, **kwargs)
        self.seed = seed
        self._epoch, self._taken = batch_sampler.epoch, 0
        self._resume: tuple[int, int] | None = None
        self._start_at = 0
        # Set by audiokit.callbacks.ExactResume: the batches of this epoch the trainer counts
        # as completed once it has restored its loop. A checkpoint saved in the middle of a
        # step (SLURM's signal handler saves at once) has taken one batch more than that, and
        # the trainer runs that step again: the loader must start where the trainer does.
        self.completed_batches: Callable[[], int] | None = None

    def __iter__(self):
        return _StartOnFirstBatch(self)

    def _start(self):
        epoch = self.batch_sampler.epoch
        start = 0
        if self._resume is not None and self._resume[0] == epoch:
            start = self._resume[1] if self.completed_batches is None else self.completed_batches()
        self._resume = None
        self._epoch, self._taken, self._start_at = epoch, start, start
        # the workers' base seed: from (seed, epoch), not from the global RNG
        self.generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return super().__iter__()

    @property
    def _index_sampler(self):  # what torch's iterators draw batches of keys from
        return _Positioned(self)

    def state_dict(self) -> dict:
        return {"epoch": self._epoch, "batches_taken": self._taken}

    def load_state_dict(self, state: dict) -> None:
        self._resume = (int(state["epoch"]), int(state["batches_taken"]))
