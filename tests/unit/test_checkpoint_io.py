"""A checkpoint write that fails (disk full) keeps the previous checkpoint and stops with one
clear line (issue 26, part 4)."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from audiokit.utils import checkpoint
from audiokit.utils.checkpoint import AtomicCheckpointIO, CheckpointWriteError, atomic_save

REPO = Path(__file__).resolve().parents[2]


def fill_disk_on_write(monkeypatch, after: int = 0) -> list[int]:
    """From the ``after``-th call on, torch.save writes a few bytes and then fails as a full
    disk does; returns the call counter."""
    real, calls = torch.save, [0]

    def save(obj, f, *args, **kwargs):
        calls[0] += 1
        if calls[0] <= after:
            return real(obj, f, *args, **kwargs)
        f.write(b"PK\x03\x04 partial")  # a full disk fails part-way through
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint.torch, "save", save)
    return calls


def test_enospc_keeps_the_previous_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "ckpt" / "last.ckpt"
    atomic_save({"state_dict": {"w": torch.arange(4.0)}, "global_step": 1}, path)
    before = path.read_bytes()
    fill_disk_on_write(monkeypatch)
    with pytest.raises(CheckpointWriteError) as err:
        atomic_save({"state_dict": {"w": torch.zeros(4)}, "global_step": 2}, path)
    assert err.value.errno == errno.ENOSPC
    assert str(err.value) == (
        f"cannot write checkpoint {path}: No space left on device; earlier checkpoints are "
        "unchanged: free some space (or fix the permissions) and run again with resume=auto")
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]
    assert checkpoint.is_loadable(path)


class FullDisk(io.FileIO):
    """A file on a disk with ``room`` bytes left: the write that does not fit fails with
    ENOSPC, as on a real full disk (tried on a 256 kB tmpfs: torch's zip writer then raises a
    RuntimeError while cleaning up, with the OSError as its context)."""

    def __init__(self, path, mode: str, room: int) -> None:
        super().__init__(path, mode)
        self.room = room

    def write(self, data) -> int:
        size = memoryview(data).nbytes
        if size > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= size
        return super().write(data)


def test_a_disk_that_fills_mid_file(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    atomic_save({"w": torch.zeros(1000)}, path)
    before = path.read_bytes()
    monkeypatch.setattr(checkpoint, "open", lambda p, mode: FullDisk(p, mode, room=2000),
                        raising=False)
    with pytest.raises(CheckpointWriteError, match="No space left on device") as err:
        atomic_save({"w": torch.ones(10000)}, path)
    assert err.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_other_failures_keep_their_own_error(tmp_path):
    with pytest.raises(Exception) as err:
        atomic_save({"f": lambda: 0}, tmp_path / "x.ckpt")  # cannot be pickled
    assert not isinstance(err.value, CheckpointWriteError)
    assert list(tmp_path.iterdir()) == []


def test_enospc_at_fsync_is_caught_too(tmp_path, monkeypatch):
    """Some file systems (NFS, delayed allocation) report a full disk only when the data is
    flushed: the write is not trusted before fsync returns."""
    path = tmp_path / "last.ckpt"
    atomic_save({"a": 1}, path)
    before = path.read_bytes()

    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint.os, "fsync", fsync)
    with pytest.raises(CheckpointWriteError, match="No space left on device"):
        atomic_save({"a": 2}, path)
    assert path.read_bytes() == before and not path.with_name("last.ckpt.tmp").exists()


class Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).pow(2).mean()

    def train_dataloader(self):
        data = torch.utils.data.TensorDataset(torch.randn(8, 2))
        return torch.utils.data.DataLoader(data, batch_size=4)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_a_full_disk_stops_lightning_with_the_last_checkpoint_intact(tmp_path, monkeypatch):
    ckpts = tmp_path / "checkpoints"
    trainer = pl.Trainer(
        max_epochs=3, logger=False, enable_progress_bar=False, enable_model_summary=False,
        plugins=[AtomicCheckpointIO()], default_root_dir=tmp_path,
        callbacks=[pl.callbacks.ModelCheckpoint(dirpath=ckpts, save_last=True, save_top_k=-1)])
    # each epoch writes epoch=E-step=S.ckpt, then last.ckpt: the disk fills at epoch 1's last
    calls = fill_disk_on_write(monkeypatch, after=3)
    with pytest.raises(CheckpointWriteError, match=r"last\.ckpt: No space left on device"):
        trainer.fit(Tiny())
    assert calls[0] == 4
    assert sorted(p.name for p in ckpts.iterdir()) == [
        "epoch=0-step=2.ckpt", "epoch=1-step=4.ckpt", "last.ckpt"]
    saved = torch.load(ckpts / "last.ckpt", weights_only=True)
    assert saved["epoch"] == 0 and saved["global_step"] == 2
    assert checkpoint.is_loadable(ckpts / "last.ckpt")


def test_audiokit_train_says_it_in_one_line(tiny_fsdd, tmp_path):
    """The whole CLI: a full disk at the first checkpoint is one error line, no traceback."""
    script = (
        "import errno, os, sys\n"
        "import audiokit.utils.checkpoint as c\n"
        "def full(obj, f, *a, **k):\n"
        "    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))\n"
        "c.torch.save = full\n"
        "from audiokit.cli.train import main\n"
        "sys.argv = ['audiokit-train'] + sys.argv[1:]\n"
        "main()\n")
    exp = tmp_path / "exp"
    env = {**os.environ, "AUDIOKIT_DEBUG": "", "WANDB_MODE": "offline"}
    env.pop("HYDRA_FULL_ERROR", None)
    run = subprocess.run(
        [sys.executable, "-c", script, "experiment=cls/fsdd_cnn", f"paths.data_root={tiny_fsdd}",
         f"exp_dir={exp}", "trainer.max_steps=2", "trainer.val_check_interval=2",
         "data.num_workers=0", "data.max_batch_seconds=4", "logger=none",
         "callbacks.lr_monitor=null", "callbacks.progress=null",
         "trainer.num_sanity_val_steps=0"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(f"audiokit-train: error: cannot write checkpoint {exp}/checkpoints/")
    assert last.endswith("No space left on device; earlier checkpoints are unchanged: free some "
                         "space (or fix the permissions) and run again with resume=auto")
    assert not list((exp / "checkpoints").glob("*.tmp"))


def test_export_on_a_full_disk_keeps_the_earlier_model_file(tmp_path, monkeypatch):
    from audiokit.cli.train import export_model

    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    path = export_model(trainer, Tiny(), tmp_path)
    before = path.read_bytes()
    fill_disk_on_write(monkeypatch)
    with pytest.raises(CheckpointWriteError, match=r"model\.pt: No space left on device"):
        export_model(trainer, Tiny(), tmp_path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
