"""Dynamic batching by total audio seconds, with duration buckets, aware of DDP ranks."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler


class EpochFromLightning:
    """For batch samplers with ``set_epoch``: Lightning calls ``set_epoch`` on
    ``dataloader.sampler`` and on ``dataloader.batch_sampler.sampler``, but never on the batch
    sampler itself (``lightning.fabric.utilities.data._set_sampler_epoch``). Answering for
    ``.sampler`` is how a batch sampler hears of each new epoch; without it every epoch would
    repeat epoch 0's batches (and dynamic mixing epoch 0's mixtures)."""

    @property
    def sampler(self):
        return self


class DurationBatchSampler(EpochFromLightning, Sampler[list[int]]):
    """Yield batches of dataset indices whose padded cost stays under ``max_seconds``.

    The cost of a batch is ``len(batch) * longest duration in it``: that is what padding
    makes the model compute, so it bounds memory as well as time. Utterances are sorted by
    duration with a little random jitter each epoch (so buckets differ between epochs),
    packed greedily, and the batch order is shuffled.

    Over ``num_replicas`` ranks every rank gets the same number of batches and each index
    appears exactly once per epoch: when the batch count does not divide evenly, the
    largest batches are split in two until it does (no padding with repeats, no dropping).
    An utterance longer than ``max_seconds`` gets a batch of its own.
    """

    def __init__(
        self,
        durations: Sequence[float],
        max_seconds: float,
        *,
        max_batch_size: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        jitter: float = 0.1,
    ) -> None:
        if max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, got {max_seconds}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside 0..{num_replicas - 1}")
        self.durations = list(durations)
        self.max_seconds = max_seconds
        self.max_batch_size = max_batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.jitter = jitter
        self.epoch = 0
        self._cache: tuple[int, list[list[int]]] | None = None
        if len(self.durations) < num_replicas:
            raise ValueError(f"{len(self.durations)} utterances cannot be split over {num_replicas} ranks")

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at each epoch start (see :class:`EpochFromLightning`): a new
        shuffle, identical on every rank."""
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        rng = random.Random(self.seed * 100_003 + self.epoch)
        if self.shuffle:  # jitter the sort key so equal-length utterances mix between epochs
            keys = [d * (1 + self.jitter * (rng.random() - 0.5)) for d in self.durations]
        else:
            keys = self.durations
        order = sorted(range(len(self.durations)), key=keys.__getitem__)
        batches: list[list[int]] = []
        batch: list[int] = []
        longest = 0.0
        for i in order:
            d = self.durations[i]
            new_longest = max(longest, d)
            full = self.max_batch_size is not None and len(batch) >= self.max_batch_size
            if batch and (full or new_longest * (len(batch) + 1) > self.max_seconds):
                batches.append(batch)
                batch, new_longest = [], d
            batch.append(i)
            longest = new_longest
        if batch:
            batches.append(batch)
        if self.shuffle:
            rng.shuffle(batches)
        return self._even_out(batches)

    def _even_out(self, batches: list[list[int]]) -> list[list[int]]:
        """Split the largest batches until the count divides evenly over the ranks."""
        while len(batches) % self.num_replicas:
            largest = max(range(len(batches)), key=lambda b: len(batches[b]))
            if len(batches[largest]) < 2:
                raise ValueError(
                    f"cannot give {self.num_replicas} ranks equal batch counts from "
                    f"{len(self.durations)} utterances"
                )
            half = len(batches[largest]) // 2
            batches[largest : largest + 1] = [batches[largest][:half], batches[largest][half:]]
        return batches

    def _epoch_batches(self) -> list[list[int]]:
        if self._cache is None or self._cache[0] != self.epoch:
            self._cache = (self.epoch, self._batches())
        return self._cache[1]

    def __iter__(self) -> Iterator[list[int]]:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[list[int]]:
        """This rank's batches of the current epoch from its ``start``-th on: where a run
        resumed mid-epoch continues (see :class:`audiokit.data.resumable.ResumableDataLoader`)."""
        return iter(self._epoch_batches()[self.rank :: self.num_replicas][start:])

    def __len__(self) -> int:
        return len(self._epoch_batches()) // self.num_replicas
