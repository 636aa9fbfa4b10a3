"""trainer=fsdp on a real GPU (Lightning's FSDP needs CUDA): trains, checkpoints, exports."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fsdp_trains_and_exports(tiny_fsdd, tmp_path):
    exp = tmp_path / "exp"
    cmd = [sys.executable, "-m", "audiokit.cli.train", "experiment=cls/fsdd_cnn",
           f"paths.data_root={tiny_fsdd}", f"exp_dir={exp}", "trainer=fsdp",
           f"trainer.devices={min(2, torch.cuda.device_count())}", "trainer.max_epochs=1",
           "data.num_workers=0", "callbacks.progress=null"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = torch.load(exp / "model.pt", map_location="cpu", weights_only=True)["state_dict"]
    assert any(k.endswith("weight") for k in state)  # full (unsharded) weights were exported
