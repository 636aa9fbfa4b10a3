"""trainer=ddp_cpu: two real gloo processes share the epoch without repeating utterances."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

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
