"""DurationBatchSampler: the batch budget holds, and every utterance comes once per epoch."""

from __future__ import annotations

import random

import pytest

from audiokit.data.sampler import DurationBatchSampler


def durations(n=503, seed=0):
    rng = random.Random(seed)
    return [rng.uniform(0.2, 2.5) for _ in range(n)]


def cost(batch, durs):
    return len(batch) * max(durs[i] for i in batch)


@pytest.mark.parametrize("max_seconds", [3.0, 10.0, 37.5])
def test_budget_and_exactly_once(max_seconds):
    durs = durations()
    sampler = DurationBatchSampler(durs, max_seconds, seed=3)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        assert all(cost(b, durs) <= max_seconds for b in batches)
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(len(durs)))


def test_epochs_differ_but_are_reproducible():
    durs = durations()
    a, b = DurationBatchSampler(durs, 10.0, seed=1), DurationBatchSampler(durs, 10.0, seed=1)
    first = list(a)
    assert first == list(b)
    a.set_epoch(1)
    assert list(a) != first


def test_no_shuffle_is_sorted_by_duration():
    durs = durations(50)
    batches = list(DurationBatchSampler(durs, 8.0, shuffle=False))
    flat = [i for b in batches for i in b]
    assert flat == sorted(range(50), key=durs.__getitem__)


def test_max_batch_size():
    batches = list(DurationBatchSampler([0.1] * 100, 1000.0, max_batch_size=16))
    assert max(len(b) for b in batches) == 16


def test_overlong_utterance_gets_its_own_batch():
    durs = [1.0, 1.0, 9.0, 1.0]
    batches = list(DurationBatchSampler(durs, 4.0, shuffle=False))
    assert [2] in batches and sorted(i for b in batches for i in b) == [0, 1, 2, 3]


@pytest.mark.parametrize("n", [503, 64, 7])
def test_two_ranks_equal_batches_exactly_once(n):
    durs = durations(n, seed=n)
    for epoch in range(3):
        ranks = []
        for rank in range(2):
            s = DurationBatchSampler(durs, 6.0, seed=5, num_replicas=2, rank=rank)
            s.set_epoch(epoch)
            ranks.append(list(s))
            assert len(ranks[-1]) == len(s)
        assert len(ranks[0]) == len(ranks[1])
        flat = [i for r in ranks for b in r for i in b]
        assert sorted(flat) == list(range(n))
        assert all(cost(b, durs) <= 6.0 for r in ranks for b in r)


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_seconds"):
        DurationBatchSampler([1.0], 0)
    with pytest.raises(ValueError, match="rank 2"):
        DurationBatchSampler([1.0, 1.0], 5, num_replicas=2, rank=2)


def test_lightning_gives_the_batch_sampler_each_epoch():
    """A real Trainer over 3 epochs: the batch sampler hears every epoch, so each epoch has
    its own shuffle (Lightning only calls set_epoch on ``batch_sampler.sampler``)."""
    import lightning.pytorch as pl
    import torch
    from torch.utils.data import DataLoader

    class Recorder(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(()))
            self.epochs: list[list[list[int]]] = []

        def on_train_epoch_start(self) -> None:
            self.epochs.append([])

        def training_step(self, batch, batch_idx):
            self.epochs[-1].append(batch.tolist())
            return (self.weight * batch.float()).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.0)

    sampler = DurationBatchSampler([1.0 + 0.01 * i for i in range(40)], max_seconds=4.0, seed=3)
    loader = DataLoader(list(range(40)), batch_sampler=sampler)
    module = Recorder()
    pl.Trainer(max_epochs=3, accelerator="cpu", logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False).fit(module, loader)
    assert sampler.epoch == 2
    assert len(module.epochs) == 3
    assert module.epochs[0] != module.epochs[1] != module.epochs[2]
    for epoch in module.epochs:  # still every utterance exactly once per epoch
        assert sorted(i for batch in epoch for i in batch) == list(range(40))
