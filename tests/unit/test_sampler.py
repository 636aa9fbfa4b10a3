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
