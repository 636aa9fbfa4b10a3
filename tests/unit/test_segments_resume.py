"""The GAN segment loader resumes mid-epoch: a resumed epoch continues with the batches and
the random crops the uninterrupted one would have had (the epoch reaches the crop once)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from audiokit.data.resumable import ResumableDataLoader
from audiokit.data.segments import SegmentBatchSampler, SegmentDataModule

SR = 8000


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("segments")
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("valid", 1)):
        d = root / split
        (d / "wav").mkdir(parents=True)
        scp, durs = [], []
        for i in range(n):
            length = int(SR * (0.3 + 0.05 * i))
            path = d / "wav" / f"u{i:02d}.wav"
            sf.write(path, rng.standard_normal(length).astype(np.float32), SR)
            scp.append(f"u{i:02d} {path}")
            durs.append(f"u{i:02d} {length / SR}")
        (d / "wav.scp").write_text("\n".join(scp) + "\n")
        (d / "utt2dur").write_text("\n".join(durs) + "\n")
    return root


def loader(root, workers: int) -> ResumableDataLoader:
    dm = SegmentDataModule(str(root / "train"), str(root / "valid"), SR, 0.1, batch_size=2,
                           num_workers=workers, seed=5)
    dm.setup("fit")
    return dm.train_dataloader()


@pytest.mark.parametrize("workers", [0, 2])
def test_resumed_epoch_continues_with_the_same_batches_and_crops(data_dir, workers):
    whole = loader(data_dir, workers)
    assert isinstance(whole, ResumableDataLoader)
    whole.batch_sampler.set_epoch(1)
    batches = list(whole)
    assert len(batches) == 6
    # the crops are epoch 1's: the epoch reached the dataset, once
    segments = whole.dataset.dataset
    for batch in batches:
        for utt, audio in zip(batch["ids"], batch["audio"], strict=True):
            index = segments.utterances.utt_ids.index(utt)
            assert torch.equal(audio, segments[(index, 1)]["audio"])
            assert not torch.equal(audio, segments[(index, 0)]["audio"])

    killed = loader(data_dir, workers)
    killed.batch_sampler.set_epoch(1)
    it = iter(killed)
    first = [next(it) for _ in range(2)]
    state = killed.state_dict()
    assert state == {"epoch": 1, "batches_taken": 2}

    resumed = loader(data_dir, workers)  # a new process: its sampler starts at epoch 0
    resumed.load_state_dict(state)
    it = iter(resumed)                   # Lightning calls iter() before it sets the epoch
    resumed.batch_sampler.set_epoch(1)
    rest = list(it)
    for got, want in zip(first + rest, batches, strict=True):
        assert got["ids"] == want["ids"]
        assert torch.equal(got["audio"], want["audio"])
    assert resumed.state_dict() == {"epoch": 1, "batches_taken": 6}
    resumed.batch_sampler.set_epoch(2)  # the next epoch starts from its first batch
    assert len(list(resumed)) == 6


@pytest.mark.parametrize("replicas", [1, 2])
def test_iter_from_is_the_rest_of_the_epoch(replicas):
    for rank in range(replicas):
        sampler = SegmentBatchSampler(23, 3, seed=1, num_replicas=replicas, rank=rank)
        sampler.set_epoch(4)
        batches = list(sampler)
        assert len(batches) == len(sampler) == 23 // (3 * replicas)
        for start in range(len(batches) + 1):
            assert list(sampler.iter_from(start)) == batches[start:]
    # all ranks together: each index at most once, only the partial last batch left out
    taken = [i for rank in range(replicas)
             for b in SegmentBatchSampler(23, 3, seed=1, num_replicas=replicas, rank=rank)
             for i in b]
    assert len(taken) == len(set(taken)) == 3 * replicas * (23 // (3 * replicas))
