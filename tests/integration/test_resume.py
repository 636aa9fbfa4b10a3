"""Resume: full state comes back (step, optimizer, scheduler), also after a kill mid-epoch."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from audiokit.cli.train import CONF_DIR, build_task, build_trainer
from audiokit.utils.checkpoint import find_resume_checkpoint


def tiny_overrides(data: Path, exp: Path) -> list[str]:
    return [f"paths.data_root={data}", f"exp_dir={exp}", "experiment=cls/fsdd_cnn",
            "data.num_workers=0", "data.max_batch_seconds=4", "callbacks.progress=null",
            "trainer.num_sanity_val_steps=0", "trainer.enable_model_summary=false"]


class RecordStart(pl.Callback):
    def on_train_start(self, trainer, pl_module):
        opt = trainer.optimizers[0]
        self.step = trainer.global_step
        self.adam_steps = {int(s["step"]) for s in opt.state.values()}
        self.scheduler_epoch = trainer.lr_scheduler_configs[0].scheduler.last_epoch
        self.lr = opt.param_groups[0]["lr"]


def test_resume_restores_step_optimizer_scheduler(tiny_fsdd, tmp_path):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=tiny_overrides(tiny_fsdd, tmp_path / "exp") + [
            "trainer.max_steps=5", "logger=none", "callbacks.lr_monitor=null"])
    dm = instantiate(cfg.data)
    task = build_task(cfg, dm.task_kwargs())
    trainer = build_trainer(cfg, tmp_path / "exp")
    trainer.fit(task, datamodule=dm)
    last = tmp_path / "exp/checkpoints/last.ckpt"
    assert find_resume_checkpoint(last.parent, "auto") is not None
    lr_before = trainer.optimizers[0].param_groups[0]["lr"]

    cfg.trainer.max_steps = 7
    record = RecordStart()
    dm = instantiate(cfg.data)
    task = build_task(cfg, dm.task_kwargs())
    trainer = build_trainer(cfg, tmp_path / "exp")
    trainer.callbacks.append(record)
    trainer.fit(task, datamodule=dm, ckpt_path=find_resume_checkpoint(last.parent, "auto"))
    assert record.step == 5
    assert record.adam_steps == {5}
    assert record.scheduler_epoch == 5
    assert record.lr == lr_before
    assert trainer.global_step == 7


def test_corrupt_checkpoint_is_skipped(tmp_path):
    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    good = ckpts / "epoch001.ckpt"
    torch.save({"state_dict": {}, "global_step": 3}, good)
    time.sleep(0.01)
    (ckpts / "last.ckpt").write_bytes(b"truncated garbage")
    assert find_resume_checkpoint(ckpts, "auto") == str(good)
    assert find_resume_checkpoint(tmp_path / "none", "auto") is None
    assert find_resume_checkpoint(ckpts, "never") is None


def first_logged_step(exp: Path, version: str) -> int:
    with open(exp / "logs" / version / "metrics.csv") as f:
        return min(int(row["step"]) for row in csv.DictReader(f) if row["step"])


def test_killed_mid_epoch_then_resume_auto_continues(tiny_fsdd, tmp_path):
    exp = tmp_path / "exp"
    cmd = [sys.executable, "-m", "audiokit.cli.train", *tiny_overrides(tiny_fsdd, exp),
           "trainer.max_epochs=2", "callbacks.latest.every_n_train_steps=3",
           "trainer.log_every_n_steps=1"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = exp / "checkpoints" / "latest.ckpt"
    killed_at = None
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if last.exists():
            step = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
            if step >= 6:
                proc.send_signal(signal.SIGKILL)  # no clean-up: as a crash or a preemption
                proc.wait()
                killed_at = step
                break
        time.sleep(0.2)
    assert killed_at is not None, "training never reached step 6 (or finished first)"
    epoch = torch.load(last, map_location="cpu", weights_only=True)["epoch"]
    assert epoch == 0, f"the kill should land in the first epoch (step {killed_at}, epoch {epoch})"

    done = subprocess.run(cmd + ["resume=auto"], env=env, capture_output=True, text=True,
                          timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resume=auto: continuing from" in done.stdout + done.stderr
    assert first_logged_step(exp, "version_1") >= killed_at
    assert (exp / "model.pt").is_file()
