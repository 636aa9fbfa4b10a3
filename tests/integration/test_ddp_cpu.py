"""trainer=ddp_cpu: two real gloo processes share the epoch without repeating utterances."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from audiokit.data.datadir import DataDir
from audiokit.data.sampler import DurationBatchSampler


@pytest.mark.slow
def test_two_process_training(tiny_fsdd, tmp_path):
    exp = tmp_path / "exp"
    cmd = [sys.executable, "-m", "audiokit.cli.train", "experiment=cls/fsdd_cnn",
           f"paths.data_root={tiny_fsdd}", f"exp_dir={exp}", "trainer=ddp_cpu",
           "trainer.max_epochs=2", "data.num_workers=0", "callbacks.progress=null",
           "model.channels=[16,32]", "model.blocks=[1,1]"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in proc.stderr + proc.stdout
    durations = list(DataDir.load(tiny_fsdd / "train").utt2dur.values())
    sampler = DurationBatchSampler(durations, 20.0, seed=42, num_replicas=2)  # as configured
    expected = 0
    for epoch in range(2):
        sampler.set_epoch(epoch)
        expected += len(sampler)
    summary = json.loads((exp / "train_summary.json").read_text())
    assert summary["global_step"] == expected  # each rank ran half of each epoch's batches
    assert (exp / "model.pt").is_file()


def _train(data, exp, *extra):
    """Six optimizer steps of a small CNN with every random element switched off."""
    cmd = [sys.executable, "-m", "audiokit.cli.train", "experiment=cls/fsdd_cnn",
           f"paths.data_root={data}", f"exp_dir={exp}", "data.num_workers=0",
           "data.max_batch_seconds=10", "data/augment=none", "task.specaugment=null", "task.mixup=null",
           "model.dropout=0", "model.channels=[8,16]", "model.blocks=[1,1]",
           "trainer.max_steps=6", "trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0",
           "callbacks.checkpoint=null", "callbacks.latest=null", "callbacks.progress=null",
           "average_checkpoints=1", "logger=none", "callbacks.lr_monitor=null", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = torch.load(exp / "model.pt", map_location="cpu", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if v.is_floating_point() and "running_" not in k}


@pytest.mark.slow
def test_ddp_matches_one_process_with_the_same_global_batch(tiny_fsdd, tmp_path):
    """DDP averages the two ranks' gradients; one process accumulating the same two batches
    per step computes the same update, so after 6 steps the weights must agree."""
    durations = list(DataDir.load(tiny_fsdd / "train").utt2dur.values())
    one, two = (DurationBatchSampler(durations, 10.0, seed=42, num_replicas=n)._epoch_batches()
                for n in (1, 2))
    assert one == two, "precondition: both runs must see the same batches in the same order"
    ddp = _train(tiny_fsdd, tmp_path / "ddp", "trainer=ddp_cpu", "trainer.devices=2")
    accumulated = _train(tiny_fsdd, tmp_path / "acc", "trainer.accumulate_grad_batches=2")
    half_batch = _train(tiny_fsdd, tmp_path / "half")  # one batch per step: a different run
    gap = max((ddp[k] - accumulated[k]).abs().max().item() for k in ddp)
    control = max((ddp[k] - half_batch[k]).abs().max().item() for k in ddp)
    assert gap < 1e-4, f"DDP and single-process weights differ by {gap}"
    assert control > 100 * gap, "the comparison cannot tell different runs apart"


@pytest.mark.slow
def test_two_processes_stream_shards(tiny_fsdd, tmp_path):
    """data=shards under real DDP: 2 gloo ranks x 2 DataLoader workers read their planned
    shards (the exact-once plan itself is checked in tests/unit/test_shards.py)."""
    from audiokit.data.shards import write_shards

    for split in ("train", "valid"):
        write_shards(tiny_fsdd / split, tmp_path / split, audio_format="wav", max_per_shard=40)
    exp = tmp_path / "exp"
    cmd = [sys.executable, "-m", "audiokit.cli.train", "experiment=cls/fsdd_cnn", "data=shards",
           f"paths.train_shards={tmp_path / 'train'}", f"paths.valid_shards={tmp_path / 'valid'}",
           "data.sample_rate=8000", "data.max_batch_seconds=20", "data.num_workers=2",
           f"exp_dir={exp}", "trainer=ddp_cpu", "trainer.max_epochs=1", "callbacks.progress=null",
           "model.channels=[8,16]", "model.blocks=[1,1]"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in proc.stderr + proc.stdout
    summary = json.loads((exp / "train_summary.json").read_text())
    assert summary["global_step"] > 0 and (exp / "model.pt").is_file()
