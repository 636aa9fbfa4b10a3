"""Preemption: the cluster's warning signal saves the state, the job is requeued, and
``resume=auto`` continues from the step the signal arrived at."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch


def steps(data: Path, epochs: int) -> int:
    """Optimizer steps in the first ``epochs`` epochs of the run below: each epoch packs its
    own duration batches (data.max_batch_seconds=4, seed 42), so their counts can differ."""
    from audiokit.data.dataset import AudioDataset
    from audiokit.data.sampler import DurationBatchSampler

    sampler = DurationBatchSampler(AudioDataset(data / "train", 8000).durations, 4.0, seed=42)
    total = 0
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        total += len(sampler)
    return total


def overrides(data: Path, exp: Path) -> list[str]:
    return [f"paths.data_root={data}", f"exp_dir={exp}", "experiment=cls/fsdd_cnn",
            "data.num_workers=0", "data.max_batch_seconds=4", "callbacks.progress=null",
            "trainer.num_sanity_val_steps=0", "trainer.max_epochs=2",
            "callbacks.latest.every_n_train_steps=3", "model.channels=[8,16]",
            "model.blocks=[1,1]"]


def wait_for_step(exp: Path, step: int, proc: subprocess.Popen) -> None:
    """Until the periodic checkpoint shows training past ``step`` (and so mid-epoch 0)."""
    latest = exp / "checkpoints" / "latest.ckpt"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if latest.exists():
            try:
                if torch.load(latest, map_location="cpu", weights_only=True)["global_step"] >= step:
                    return
            except Exception:  # caught mid-rename: try again
                pass
        time.sleep(0.2)
    raise AssertionError(f"training never reached step {step} (exit code {proc.poll()})")


def saved_step(exp: Path) -> int:
    ckpt = torch.load(exp / "checkpoints" / "preempted.ckpt", map_location="cpu",
                      weights_only=True)
    assert ckpt["epoch"] == 0, "the signal should land in the first epoch"
    return ckpt["global_step"]


def finished_run(exp: Path, data: Path) -> dict:
    summary = json.loads((exp / "train_summary.json").read_text())
    assert summary["global_step"] == steps(data, 2)  # no step lost or repeated
    assert (exp / "model.pt").is_file()
    return summary


@pytest.mark.slow
@pytest.mark.parametrize("slurm", [False, True], ids=["plain", "lightning-slurm"])
def test_usr1_saves_state_and_resume_auto_continues(tiny_fsdd, tmp_path, slurm):
    """USR1 is what Lightning's SLURM environment listens for (``sbatch --signal=USR1@90``).
    Under SLURM our save runs first and Lightning's requeue (scontrol, faked here) follows;
    without SLURM the run stops with a message."""
    exp = tmp_path / "exp"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if slurm:
        fake_bin = tmp_path / "bin"
        fake_bin.mkdir()
        (fake_bin / "scontrol").write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/requeued\n")
        (fake_bin / "scontrol").chmod(0o755)
        env.update(SLURM_NTASKS="1", SLURM_JOB_NAME="train", SLURM_JOB_ID="4242",
                   SLURM_NODELIST="localhost", SLURM_PROCID="0", SLURM_LOCALID="0",
                   SLURM_NODEID="0", PATH=f"{fake_bin}:{env['PATH']}")
    cmd = [sys.executable, "-m", "audiokit.cli.train", *overrides(tiny_fsdd, exp)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    wait_for_step(exp, 4, proc)
    proc.send_signal(signal.SIGUSR1)
    if slurm:  # Lightning keeps training until SLURM stops the job: do what SLURM does
        deadline = time.time() + 60
        while not (tmp_path / "requeued").exists() and time.time() < deadline:
            time.sleep(0.1)
        proc.kill()
    output = proc.communicate(timeout=120)[0]
    step = saved_step(exp)
    if slurm:
        assert (tmp_path / "requeued").read_text().split() == ["requeue", "4242"]
        assert list(exp.glob("hpc_ckpt_*.ckpt")), "Lightning's own handler ran after ours"
    else:
        assert proc.returncode != 0
        assert f"training state saved to {exp / 'checkpoints' / 'preempted.ckpt'}" in output

    done = subprocess.run(cmd + ["resume=auto"], env=env, capture_output=True, text=True,
                          timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stdout + done.stderr
    # Under SLURM training went on until the kill: the newest of our checkpoints and
    # Lightning's hpc_ckpt wins, whichever was written last (it depends on timing).
    resumed = re.search(r"resume=auto: continuing from (\S+)", log)
    assert resumed, log[-3000:]
    if slurm:
        assert re.fullmatch(rf"{re.escape(str(exp))}/(checkpoints/\S+|hpc_ckpt_\d+)\.ckpt",
                            resumed.group(1)), resumed.group(1)
    else:
        assert resumed.group(1) == f"{exp}/checkpoints/preempted.ckpt"
    assert step >= 4
    finished_run(exp, tiny_fsdd)


def submitit_task_pid(exp: Path) -> int | None:
    """The process submitit runs the job in (its command line names the job folder)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"submitit.core._submit" in args and any(str(exp).encode() in a for a in args):
            return int(cmdline.parent.name)
    return None


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the job via /proc")
def test_submitit_requeues_a_preempted_job_which_continues(tiny_fsdd, tmp_path):
    """launcher=submitit_local: the same submitit job, signal and requeue code as SLURM."""
    exp = tmp_path / "exp"
    cmd = [sys.executable, "-m", "audiokit.cli.train", "-m", "launcher=submitit_local",
           *overrides(tiny_fsdd, exp)]
    proc = subprocess.Popen(cmd, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for_step(exp, 4, proc)
    pid = submitit_task_pid(exp)
    assert pid is not None, "no submitit job process found"
    os.kill(pid, signal.SIGUSR2)  # submitit's preemption / time-out warning
    output = proc.communicate(timeout=400)[0]
    assert proc.returncode == 0, output[-3000:]
    step = saved_step(exp)
    job_log = "".join(p.read_text() for p in exp.glob("submitit/*/*_log.*"))
    assert "Requeued job" in job_log
    assert "resume=auto: continuing from" in job_log and "preempted.ckpt" in job_log
    assert 4 <= step < steps(tiny_fsdd, 1)
    finished_run(exp, tiny_fsdd)
