"""Stream WebDataset shards (from ``audiokit-prep shards``) as duration-bucketed batches.

How an epoch is laid out, and why every DDP rank gets the same number of batches:

1. Each epoch has a *plan*, computed from ``shards.json`` alone (no tar is opened) and
   identical on every rank, because it depends only on the index, the seed, the epoch,
   the world size and the worker count. It assigns samples to (rank, worker) slots:
   - exact mode: the shards, in a per-epoch shuffled order, go whole to the least-loaded
     rank by sample count, then likewise to that rank's workers. Where there are fewer
     shards than ranks (or than a rank's workers), every slot reads all of them and keeps
     every n-th sample instead. Each sample goes to exactly one slot.
   - resampled mode (``resampled=True``): each slot draws shards with replacement
     (weighted by sample count) until it has its share of ``epoch_utterances``.
2. Each slot's sample stream is cut into buffers of ``shuffle_buffer`` samples; a buffer is
   sorted by (jittered) duration, packed into batches whose padded length
   ``batch size x longest`` stays within ``max_batch_seconds`` (as
   :class:`~audiokit.data.sampler.DurationBatchSampler` does), and the batch order is
   shuffled.
3. Ranks whose plan has fewer batches than the rank with the most split their largest
   batches in two until the counts match: no repeats, no drops, smaller batches only. This
   fails only if a rank has fewer samples than the batch count it must reach (tiny data
   spread over many ranks); then ``drop_uneven=True`` drops the smallest surplus batches
   instead (a warning says how many utterances), or the error says what to change.

Workers then read their shards with WebDataset and execute the plan. Since the batch
count differs from epoch to epoch, the datamodule makes the trainer ask for a new train
loader each epoch (``reload_dataloaders_every_n_epochs=1``).

Mixing is by shard order, buffer and batch order; the dump stage shuffles utterances
before writing, so a shard is not a run of one speaker or one class.
"""

from __future__ import annotations

import heapq
import io
import json
import logging
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import lightning.pytorch as pl
import soundfile as sf
import torch
import webdataset as wds
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from audiokit.data.audio import AudioError, _resampler
from audiokit.data.collate import collate_audio
from audiokit.data.datadir import DataDirError, read_list
from audiokit.data.datamodule import task_kwargs
from audiokit.data.dataset import WaveAugmentFn
from audiokit.data.shards import read_index

log = logging.getLogger(__name__)

Unit = tuple[int, list[int]]  # (shard number, ascending positions in the tar of the samples to read)


# ---------------------------------------------------------------------------- planning
def bucket(
    durations: Sequence[float],
    max_seconds: float,
    max_batch_size: int | None = None,
    rng: random.Random | None = None,
    jitter: float = 0.1,
) -> list[list[int]]:
    """Indices of ``durations`` packed into batches with ``len(batch) * longest <= max_seconds``.

    With ``rng``, the sort key is jittered (so buckets differ between epochs) and the batch
    order shuffled. An utterance longer than ``max_seconds`` gets a batch of its own.
    """
    keys = [d * (1 + jitter * (rng.random() - 0.5)) for d in durations] if rng else durations
    batches: list[list[int]] = []
    batch: list[int] = []
    longest = 0.0
    for i in sorted(range(len(durations)), key=keys.__getitem__):
        new_longest = max(longest, durations[i])
        full = max_batch_size is not None and len(batch) >= max_batch_size
        if batch and (full or new_longest * (len(batch) + 1) > max_seconds):
            batches.append(batch)
            batch, new_longest = [], durations[i]
        batch.append(i)
        longest = new_longest
    if batch:
        batches.append(batch)
    if rng:
        rng.shuffle(batches)
    return batches


@dataclass
class WorkerPlan:
    """One (rank, worker) slot: what to read, and the batches to cut from it.

    ``buffers[b]`` holds the batches of stream offsets ``[b * buffer_size, (b + 1) * buffer_size)``,
    where the stream is the samples of ``units`` in order.
    """

    units: list[Unit]
    buffers: list[list[list[int]]]
    buffer_size: int

    @property
    def num_samples(self) -> int:
        return sum(len(positions) for _, positions in self.units)

    @property
    def num_batches(self) -> int:
        return sum(len(batches) for batches in self.buffers)


@dataclass
class EpochPlan:
    ranks: list[list[WorkerPlan]]  # [rank][worker]
    dropped: list[int] = field(default_factory=list)  # utterances dropped per rank (drop_uneven)

    def num_batches(self, rank: int) -> int:
        return sum(w.num_batches for w in self.ranks[rank])


def _split(units: list[Unit], parts: int) -> list[list[Unit]]:
    """Whole units to the least-loaded part when there are enough, else every n-th sample."""
    out: list[list[Unit]] = [[] for _ in range(parts)]
    if len(units) >= parts:
        load = [0] * parts
        for unit in sorted(units, key=lambda u: -len(u[1])):  # stable: equal sizes keep their order
            part = min(range(parts), key=lambda i: (load[i], len(out[i])))
            out[part].append(unit)
            load[part] += len(unit[1])
        return out
    flat = [(shard, pos) for shard, positions in units for pos in positions]
    for part in range(parts):
        for shard, pos in flat[part::parts]:
            if out[part] and out[part][-1][0] == shard:
                out[part][-1][1].append(pos)
            else:
                out[part].append((shard, [pos]))
    return out


def _draw(kept: list[list[int]], quota: int, rng: random.Random) -> list[Unit]:
    """Whole shards drawn with replacement (weighted by size) until ``quota`` samples."""
    units: list[Unit] = []
    weights = [len(k) for k in kept]
    while quota > 0:
        shard = rng.choices(range(len(kept)), weights=weights)[0]
        units.append((shard, kept[shard][:quota]))
        quota -= len(units[-1][1])
    return units


def _cut(units: list[Unit], durations: list[list[float]], buffer_size: int, max_seconds: float,
         max_batch_size: int | None, rng: random.Random | None) -> WorkerPlan:
    stream = [durations[shard][pos] for shard, positions in units for pos in positions]
    buffers = []
    for start in range(0, len(stream), buffer_size):
        batches = bucket(stream[start : start + buffer_size], max_seconds, max_batch_size, rng)
        buffers.append([[start + i for i in batch] for batch in batches])
    return WorkerPlan(units, buffers, buffer_size)


def _split_largest(workers: list[WorkerPlan], count: int) -> None:
    """Add ``count`` batches by halving the largest ones (each half stays in its buffer)."""
    heap = [(-len(batch), id(batch), w, b, batch)
            for w, plan in enumerate(workers) for b, batches in enumerate(plan.buffers)
            for batch in batches if len(batch) > 1]
    heapq.heapify(heap)
    for _ in range(count):
        _, _, w, b, batch = heapq.heappop(heap)  # the caller checked there are enough samples
        batches = workers[w].buffers[b]
        i = next(i for i, x in enumerate(batches) if x is batch)
        half = len(batch) // 2
        batches[i : i + 1] = [batch[:half], batch[half:]]
        for part in batches[i : i + 2]:
            if len(part) > 1:
                heapq.heappush(heap, (-len(part), id(part), w, b, part))


def _drop_smallest(workers: list[WorkerPlan], count: int) -> int:
    """Remove the ``count`` smallest batches; return how many utterances they held."""
    found = sorted((len(batch), w, b, i) for w, plan in enumerate(workers)
                   for b, batches in enumerate(plan.buffers) for i, batch in enumerate(batches))
    doomed = sorted(found[:count], key=lambda f: -f[3])  # delete from the back of each buffer
    for _, w, b, i in doomed:
        del workers[w].buffers[b][i]
    return sum(f[0] for f in doomed)


def plan_epoch(
    durations: list[list[float]],
    *,
    world_size: int,
    num_workers: int,
    max_seconds: float,
    buffer_size: int,
    max_batch_size: int | None = None,
    shuffle: bool = True,
    seed: int = 0,
    epoch: int = 0,
    resampled: bool = False,
    epoch_utterances: int | None = None,
    min_duration: float = 0.0,
    max_duration: float = math.inf,
    drop_uneven: bool = False,
) -> EpochPlan:
    """The plan of one epoch for every rank (see the module docstring).

    ``durations[s]`` lists the sample durations of shard ``s`` in tar order (shards.json).
    """
    if max_seconds <= 0 or buffer_size < 1:
        raise ValueError(f"max_seconds ({max_seconds}) and buffer_size ({buffer_size}) must be positive")
    kept = [[p for p, d in enumerate(ds) if min_duration <= d <= max_duration] for ds in durations]
    total = sum(len(k) for k in kept)
    if total == 0:
        raise DataDirError(f"no utterance within [{min_duration}, {max_duration}] s in the shards")
    if resampled:
        per_rank = (epoch_utterances or total) // world_size
        if per_rank < 1:
            raise ValueError(f"epoch_utterances={epoch_utterances} is fewer than {world_size} ranks")
        slots = [[_draw(kept, per_rank // num_workers + (w < per_rank % num_workers),
                        random.Random(f"draw:{seed}:{epoch}:{r}:{w}"))
                  for w in range(num_workers)] for r in range(world_size)]
    else:
        order = list(range(len(durations)))
        if shuffle:
            random.Random(f"shards:{seed}:{epoch}").shuffle(order)
        units = [(s, kept[s]) for s in order if kept[s]]
        slots = [_split(rank_units, num_workers) for rank_units in _split(units, world_size)]
    ranks = [[_cut(units, durations, buffer_size, max_seconds, max_batch_size,
                   random.Random(f"batches:{seed}:{epoch}:{r}:{w}") if shuffle else None)
              for w, units in enumerate(rank_slots)] for r, rank_slots in enumerate(slots)]
    plan = EpochPlan(ranks, dropped=[0] * world_size)

    natural = [plan.num_batches(r) for r in range(world_size)]
    samples = [sum(w.num_samples for w in workers) for workers in ranks]
    target = max(natural)
    if target > min(samples):
        poorest = samples.index(min(samples))
        if not drop_uneven:
            raise ValueError(
                f"rank {poorest} gets {samples[poorest]} utterance(s) but another rank has "
                f"{target} batches, and DDP needs equal batch counts: use more (or equal-sized) "
                "shards, fewer ranks or workers, resampled=true, or drop_uneven=true")
        target = min(samples)
    for r, workers in enumerate(ranks):
        if natural[r] < target:
            _split_largest(workers, target - natural[r])
        elif natural[r] > target:
            plan.dropped[r] = _drop_smallest(workers, natural[r] - target)
    return plan


# ---------------------------------------------------------------------------- reading
class ShardStream(IterableDataset):
    """Collated batches of one rank, following its :class:`WorkerPlan` per DataLoader worker.

    Items look like :class:`~audiokit.data.dataset.AudioDataset` items: ``id``, ``audio``
    and, when present, ``label`` (index into ``labels``), ``text`` and ``speaker``.
    """

    def __init__(
        self,
        shards: list[str],
        plans: list[WorkerPlan],
        sample_rate: int,
        *,
        labels: list[str] | None = None,
        augment: WaveAugmentFn | None = None,
    ) -> None:
        self.shards = shards
        self.plans = plans
        self.sample_rate = sample_rate
        self.label_index = {label: i for i, label in enumerate(labels)} if labels else None
        self.augment = augment

    def __len__(self) -> int:
        return sum(plan.num_batches for plan in self.plans)

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        if workers != len(self.plans):
            raise RuntimeError(f"planned for {len(self.plans)} DataLoader worker(s), running {workers}")
        plan = self.plans[worker]
        stream = self._samples(plan.units)
        total = plan.num_samples
        for b, batches in enumerate(plan.buffers):
            start = b * plan.buffer_size
            items = list(islice(stream, min(plan.buffer_size, total - start)))
            for batch in batches:
                yield collate_audio([items[i - start] for i in batch])

    def _samples(self, units: list[Unit]) -> Iterator[dict]:
        for shard, positions in units:
            path = self.shards[shard]
            wanted = iter(positions)
            target = next(wanted, None)
            seen = 0
            for pos, sample in enumerate(wds.tarfile_to_samples()([{"url": path}])):
                seen = pos + 1
                if pos == target:
                    yield self._item(sample, path)
                    target = next(wanted, None)
                if target is None:
                    break
            if target is not None:
                raise DataDirError(f"{path}: ends after {seen} samples, but its shards.json lists "
                                   f"more (re-run `audiokit-prep shards`)")

    def _item(self, sample: dict, path: str) -> dict:
        meta = json.loads(sample["json"])
        utt = meta["id"]
        where = f"utterance '{utt}' (shard {path})"
        audio = sample.get("flac", sample.get("wav"))
        if audio is None:
            raise AudioError(f"{where}: no .flac or .wav member")
        try:
            data, rate = sf.read(io.BytesIO(audio), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioError(f"{where}: cannot decode audio: {e}") from None
        wav = torch.from_numpy(data[:, 0].copy())  # mono: the dump stage wrote mono
        if rate != self.sample_rate:
            wav = _resampler(rate, self.sample_rate)(wav)
        if self.augment is not None:
            wav = self.augment(wav, self.sample_rate)
        item = {"id": utt, "audio": wav}
        if self.label_index is not None:
            labels = meta.get("labels") or []
            if len(labels) != 1 or labels[0] not in self.label_index:
                raise DataDirError(f"{where}: labels {labels}: single-label classification needs "
                                   f"exactly one, from the label list ({len(self.label_index)} labels)")
            item["label"] = self.label_index[labels[0]]
        for key in ("text", "speaker"):
            if key in meta:
                item[key] = meta[key]
        return item


# ---------------------------------------------------------------------------- datamodule
def load_indices(paths: str | Sequence[str]) -> dict:
    """One or several shards.json (or their folders) as one index: shards concatenated,
    labels united, fields those that every index has."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    indices = [read_index(p) for p in paths]
    labels = [i["labels"] for i in indices]
    labelled = all(ls is not None for ls in labels)
    return {
        "paths": [str(p) for p in paths],
        "shards": [s for i in indices for s in i["shards"]],
        "labels": sorted({x for ls in labels for x in ls}) if labelled else None,
        "fields": [f for f in indices[0]["fields"] if all(f in i["fields"] for i in indices)],
    }


class ShardDataModule(pl.LightningDataModule):
    """Train/valid shard indices -> streaming DataLoaders of duration-bucketed batches.

    The shard-streaming twin of :class:`~audiokit.data.datamodule.AudioDataModule`: same
    batches, same ``task_kwargs()``; bad audio was screened by the dump stage. The epoch
    layout and the DDP guarantee are described in the module docstring. ``rank`` and
    ``world_size`` default to the trainer's (tests set them to simulate DDP).
    """

    def __init__(
        self,
        train_shards: str | Sequence[str],
        valid_shards: str | Sequence[str],
        sample_rate: int,
        max_batch_seconds: float = 60.0,
        *,
        max_batch_size: int | None = None,
        shuffle_buffer: int = 2000,
        num_workers: int = 2,
        resampled: bool = False,
        epoch_utterances: int | None = None,
        drop_uneven: bool = False,
        label_list: str | None = None,
        token_dir: str | None = None,
        augment: WaveAugmentFn | None = None,
        min_duration: float = 0.0,
        max_duration: float = math.inf,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        super().__init__()
        if train_shards is None or valid_shards is None:
            raise DataDirError("data.train_shards and data.valid_shards must name shards.json files "
                               "(or their folders) written by `audiokit-prep shards`: set "
                               "paths.train_shards=... paths.valid_shards=...")
        self.train_index = load_indices(train_shards)
        self.valid_index = load_indices(valid_shards)
        self.sample_rate = sample_rate
        self.max_batch_seconds = max_batch_seconds
        self.max_batch_size = max_batch_size
        self.shuffle_buffer = shuffle_buffer
        self.num_workers = num_workers
        self.resampled = resampled
        self.epoch_utterances = epoch_utterances
        self.drop_uneven = drop_uneven
        self.augment = augment
        self.min_duration, self.max_duration = min_duration, max_duration
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self._epochs_served = 0  # the epoch counter when no trainer is attached
        self.labels = read_list(label_list) if label_list else self.train_index["labels"]
        if self.labels is not None:
            self._check_labels()
        self.tokenizer_spec = self._read_tokenizer(token_dir) if token_dir else None
        for index in (self.train_index, self.valid_index):
            self._report_excluded(index)

    def _check_labels(self) -> None:
        for index in (self.train_index, self.valid_index):
            unknown = sorted(set(index["labels"] or []) - set(self.labels))
            if index["labels"] is None or unknown:
                what = ("no labels" if index["labels"] is None
                        else f"label(s) {unknown[:5]} not in the label list")
                raise DataDirError(f"{', '.join(index['paths'])}: {what}, but the task needs labels")

    def _read_tokenizer(self, token_dir: str) -> dict:
        from audiokit.text.tokenizer import load_token_dir

        for index in (self.train_index, self.valid_index):
            if "text" not in index["fields"]:
                raise DataDirError(f"{', '.join(index['paths'])}: shards have no text, but the "
                                   "task needs transcripts (dump a data dir with a text file)")
        return load_token_dir(token_dir)

    def _report_excluded(self, index: dict) -> None:
        out = sum(not self.min_duration <= d <= self.max_duration
                  for s in index["shards"] for d in s["durations"])
        if out:
            log.warning("%s: leaving out %d utterance(s) outside [%s, %s] s",
                        ", ".join(index["paths"]), out, self.min_duration, self.max_duration)

    def task_kwargs(self) -> dict:
        """What the task must know about the data to build its model (saved in checkpoints)."""
        return task_kwargs(self.labels, self.tokenizer_spec)

    def _rank_and_world(self) -> tuple[int, int]:
        trainer = self.trainer
        rank = trainer.global_rank if trainer else 0
        world = trainer.world_size if trainer else 1
        rank = self.rank if self.rank is not None else rank
        world = self.world_size if self.world_size is not None else world
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside 0..{world - 1}")
        return rank, world

    def plan(self, index: dict, epoch: int, train: bool) -> EpochPlan:
        _, world = self._rank_and_world()
        return plan_epoch(
            [s["durations"] for s in index["shards"]], world_size=world,
            num_workers=max(1, self.num_workers), max_seconds=self.max_batch_seconds,
            buffer_size=self.shuffle_buffer, max_batch_size=self.max_batch_size, shuffle=train,
            seed=self.seed, epoch=epoch, resampled=train and self.resampled,
            epoch_utterances=self.epoch_utterances, min_duration=self.min_duration,
            max_duration=self.max_duration, drop_uneven=self.drop_uneven,
        )

    def _loader(self, index: dict, epoch: int, train: bool) -> DataLoader:
        rank, _ = self._rank_and_world()
        plan = self.plan(index, epoch, train)
        if plan.dropped[rank]:
            log.warning("rank %d: drop_uneven: leaving out %d utterance(s) this epoch to keep the "
                        "batch count equal over ranks", rank, plan.dropped[rank])
        dataset = ShardStream([s["path"] for s in index["shards"]], plan.ranks[rank],
                              self.sample_rate, labels=self.labels,
                              augment=self.augment if train else None)
        # Not persistent: the next epoch has a new plan, handed to freshly started workers.
        return DataLoader(dataset, batch_size=None, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        if trainer is None:
            epoch, self._epochs_served = self._epochs_served, self._epochs_served + 1
        else:
            epoch = trainer.current_epoch
            # Each epoch's plan has its own batch count: the trainer must fetch a new loader
            # (and its length) every epoch, or it would cut or end epochs at the first length.
            trainer.reload_dataloaders_every_n_epochs = 1
        return self._loader(self.train_index, epoch, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.valid_index, 0, train=False)
