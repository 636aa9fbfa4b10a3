"""A toy HiFi-GAN run on real FSDD audio killed (SIGKILL) at a random step of epoch 0 and at a
random mid-epoch step of epoch 1, each time restarted with ``resume=auto``, ends with the very
generator, EMA and discriminator weights and optimizer states of a run never interrupted (CPU,
deterministic algorithms: ``torch.equal``). The segments' batch order and random crops
continue mid-epoch (audiokit/data/segments.py); the GAN task's batch counter and its
generator-only warm-up are restored with the checkpoint."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
import torch
from test_resume_exact import BASE, load, run_until

BATCH_SIZE = 24
WARMUP = 3    # generator-only batches (1 optimizer step each), then 2 per batch


def overrides(data: Path, exp: Path) -> list[str]:
    # a checkpoint after every step, so any step can be a kill point; validation every 10
    # batches (mid-epoch) so that it runs between kill points too
    return [f"paths.data_root={data}", f"exp_dir={exp}", "experiment=voc/fsdd_hifigan",
            "model.channels=16", "task.discriminator.discriminators.mpd.channels=[4,4,4,4,4]",
            "task.discriminator.discriminators.msd.width=0.0625",
            f"task.discriminator_start_step={WARMUP}", "task.ema_decay=0.9",
            f"data.batch_size={BATCH_SIZE}", "data.segment_seconds=0.2", "data.num_workers=0",
            "data.max_valid_utterances=2", "callbacks.progress=null", "callbacks.lr_monitor=null",
            "logger=none", "trainer.num_sanity_val_steps=0", "trainer.max_epochs=2",
            "trainer.max_steps=-1", "trainer.max_time=null", "trainer.val_check_interval=10",
            "trainer.deterministic=true", "callbacks.latest.every_n_train_steps=1"]


def step_of(batches: int) -> int:
    """Lightning's global_step after ``batches`` batches: 1 step per warm-up batch, then 2."""
    return min(batches, WARMUP) + 2 * max(0, batches - WARMUP)


def final_state(exp: Path) -> dict:
    return load(exp / "checkpoints" / "latest.ckpt")  # saved after the last step too


@pytest.mark.slow
def test_gan_sigkill_mid_epoch_ends_with_identical_weights(tiny_fsdd, tmp_path):
    batches = len((tiny_fsdd / "train" / "wav.scp").read_text().splitlines()) // BATCH_SIZE
    ref, exp = tmp_path / "ref", tmp_path / "killed"
    run_until(BASE + overrides(tiny_fsdd, ref), ref, None)
    want = final_state(ref)
    assert want["global_step"] == step_of(2 * batches)  # two whole epochs

    # kill points drawn at random (printed, so a failure can be replayed): one in epoch 0
    # (warm-up included), one in the middle of epoch 1
    rng = random.Random(int(os.environ.get("RESUME_KILL_SEED", time.time_ns() % 10_000)))
    kill_at = [rng.randrange(1, step_of(batches) - 1),
               rng.randrange(step_of(batches + 2), step_of(2 * batches - 2))]
    print(f"kill points: {kill_at} of {want['global_step']} steps")
    cmd = BASE + overrides(tiny_fsdd, exp)
    saved = [run_until(cmd + (["resume=auto"] if i else []), exp, step)
             for i, step in enumerate(kill_at)]
    print(f"killed with checkpoints at steps {saved}")
    assert saved[1] < want["global_step"]
    run_until(cmd + ["resume=auto"], exp, None)
    got = final_state(exp)

    assert got["global_step"] == want["global_step"]
    assert got["gan"] == want["gan"]  # batch counter, skip counters
    assert got["state_dict"].keys() == want["state_dict"].keys()
    differ = [k for k, v in want["state_dict"].items() if not torch.equal(got["state_dict"][k], v)]
    assert not differ, f"stopped at {saved}: weights differ from the uninterrupted run: {differ}"
    assert any(k.startswith("discriminator.") for k in want["state_dict"])
    assert any(k.startswith("generator_ema.") for k in want["state_dict"])
    for opt_got, opt_want in zip(got["optimizer_states"], want["optimizer_states"], strict=True):
        for i, state in opt_want["state"].items():
            for name, value in state.items():
                assert torch.equal(opt_got["state"][i][name], value), (i, name)
