"""ResumableDataLoader continues an epoch at the batch where a killed run stopped, with the
same random draws; ExactResume puts the global generators back."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from audiokit.callbacks.exact_resume import ExactResume, rng_states, set_rng_states
from audiokit.data.resumable import ResumableDataLoader, SeededItems
from audiokit.data.sampler import DurationBatchSampler

DURATIONS = [0.5 + 0.1 * (i % 7) for i in range(40)]


class Noisy(Dataset):
    """Index plus a random draw from each RNG, as an augmentation would make."""

    def __len__(self) -> int:
        return len(DURATIONS)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.tensor([i, torch.rand(()).item(), np.random.rand(), random.random()])


def loader(workers: int, epoch: int = 0) -> ResumableDataLoader:
    sampler = DurationBatchSampler(DURATIONS, 3.0, seed=7)
    sampler.set_epoch(epoch)
    return ResumableDataLoader(SeededItems(Noisy(), seed=7), batch_sampler=sampler, seed=7,
                               num_workers=workers, persistent_workers=workers > 0,
                               collate_fn=torch.stack)


@pytest.mark.parametrize("workers", [0, 2])
def test_resumed_epoch_continues_with_the_same_batches_and_draws(workers):
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    whole = loader(workers, epoch=1)
    whole.batch_sampler.set_epoch(1)
    batches = list(whole)
    assert whole.state_dict() == {"epoch": 1, "batches_taken": len(batches)}

    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    killed = loader(workers)
    killed.batch_sampler.set_epoch(1)
    it = iter(killed)
    first = [next(it) for _ in range(3)]
    state, rngs = killed.state_dict(), rng_states()
    assert state == {"epoch": 1, "batches_taken": 3}

    resumed = loader(workers)            # a new process: the sampler starts at epoch 0,
    resumed.load_state_dict(state)
    it = iter(resumed)                   # Lightning calls iter() before it sets the epoch
    resumed.batch_sampler.set_epoch(1)
    set_rng_states(rngs)
    rest = list(it)
    assert len(first) + len(rest) == len(batches)
    for got, want in zip(first + rest, batches, strict=True):
        assert torch.equal(got, want)
    assert resumed.state_dict() == {"epoch": 1, "batches_taken": len(batches)}
    # the next epoch starts from its first batch
    resumed.batch_sampler.set_epoch(2)
    assert len(list(resumed)) == len(resumed)


def test_a_saved_position_of_another_epoch_is_ignored():
    finished = loader(0)
    finished.load_state_dict({"epoch": 0, "batches_taken": 5})
    it = iter(finished)
    finished.batch_sampler.set_epoch(1)  # the checkpoint's epoch ended; Lightning goes on
    assert len(list(it)) == len(finished.batch_sampler)


def test_starting_an_epoch_draws_nothing_from_the_global_rng():
    torch.manual_seed(3)
    before = torch.get_rng_state()
    next(iter(loader(0)))  # num_workers=0: items draw from the global RNG (saved by ExactResume)
    torch.manual_seed(3)
    next(iter(loader(2)))
    assert torch.equal(torch.get_rng_state(), before)


def test_rng_state_survives_a_weights_only_checkpoint(tmp_path):
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    torch.save({"rng": ExactResume().state_dict()}, tmp_path / "c.ckpt")
    want = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    callback = ExactResume()
    callback.load_state_dict(torch.load(tmp_path / "c.ckpt", weights_only=True)["rng"])
    trainer = SimpleNamespace(fit_loop=SimpleNamespace(  # a fresh run: nothing restarts
        _load_combined_loader_states=lambda: None, restarted_mid_epoch=False,
        epoch_loop=SimpleNamespace(restarted_on_train_batch_end=False),
        _combined_loader=SimpleNamespace(flattened=[])))
    callback.on_train_start(trainer, None)
    got = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    assert torch.equal(got[0], want[0])
    assert np.array_equal(got[1], want[1])
    assert got[2] == want[2]


def test_a_resumed_epoch_starts_where_the_trainer_counts_it_completed():
    """A checkpoint saved in the middle of a step (SLURM's signal handler) has taken one batch
    more than the trainer completed; the trainer runs that step again, so the loader starts at
    the trainer's count, not at its own."""
    whole = [batch[:, 0].tolist() for batch in loader(0)]
    resumed = loader(0)
    resumed.load_state_dict({"epoch": 0, "batches_taken": 3})
    resumed.completed_batches = lambda: 2
    assert [batch[:, 0].tolist() for batch in resumed] == whole[2:]
