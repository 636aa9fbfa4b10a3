"""GAN task: resume from a checkpoint equals an uninterrupted run; a non-finite step is
skipped and counted; short audio is padded; generator dict outputs and their losses; the
selection metric ranks GAN-trained checkpoints above warm-up ones."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import numpy as np
import pytest
import soundfile as sf
import torch

from audiokit.data.segments import SegmentDataModule
from audiokit.tasks.gan import WARMUP_OFFSET, GANTask

SR = 8000
FRONTEND = {"_target_": "audiokit.frontends.LogMel", "sample_rate": SR, "n_mels": 20, "n_fft": 256}
GENERATOR = {"_target_": "audiokit.models.vocoder.HiFiGANGenerator", "in_channels": 20,
             "channels": 16, "upsample_rates": [5, 4, 4], "resblock": 2,
             "resblock_kernels": [3], "resblock_dilations": [[1]]}
DISCRIMINATOR = {"_target_": "audiokit.models.gan.MultiPeriodDiscriminator", "periods": [2, 3],
                 "channels": [4, 4, 4, 4, 4]}
LOSS = {"mel": {"_target_": "audiokit.losses.spectral.MelL1Loss", "sample_rate": SR,
                "n_ffts": [256], "n_mels": 20}}
OPTIM = {"_target_": "torch.optim.AdamW", "lr": 1e-3, "betas": [0.8, 0.99]}
SCHED = {"_target_": "audiokit.optim.schedulers.WarmupCosine", "warmup_steps": 2, "total_steps": None}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("gan_data")
    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("valid", 2)):
        d = root / split
        (d / "wav").mkdir(parents=True)
        lines, durs = [], []
        for i in range(n):
            length = int(SR * (0.2 if i == 0 else 0.3 + 0.05 * i))  # the first one is short
            t = np.arange(length) / SR
            wav = 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t) + 0.01 * rng.standard_normal(length)
            path = d / "wav" / f"u{i}.wav"
            sf.write(path, wav.astype(np.float32), SR)
            lines.append(f"u{i} {path}")
            durs.append(f"u{i} {length / SR}")
        (d / "wav.scp").write_text("\n".join(lines) + "\n")
        (d / "utt2dur").write_text("\n".join(durs) + "\n")
    return root


def make_task(**kw) -> GANTask:
    args = dict(sample_rate=SR, model=GENERATOR, discriminator=DISCRIMINATOR, optim=OPTIM,
                loss=LOSS, frontend=FRONTEND, scheduler=SCHED, scheduler_d=SCHED,
                loss_weights={"mel": 45.0}, discriminator_start_step=1, ema_decay=0.9,
                grad_clip=10.0, grad_clip_d=10.0, val_audio_every_n_steps=1)
    args.update(kw)
    return GANTask(**args)


def make_data(root) -> SegmentDataModule:
    return SegmentDataModule(str(root / "train"), str(root / "valid"), SR, 0.25, batch_size=4,
                             num_workers=0, seed=3)


class KillAfterEpoch(pl.Callback):
    """Stops the run at the end of one epoch, as a kill after its checkpoint would."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            trainer.should_stop = True


def trainer(tmp, epochs: int, callbacks=()) -> pl.Trainer:
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_progress_bar=False,
                      enable_model_summary=False, enable_checkpointing=False, default_root_dir=tmp,
                      num_sanity_val_steps=0, callbacks=list(callbacks))


def test_resume_equals_uninterrupted(data_dir, tmp_path):
    pl.seed_everything(1)
    full = make_task()
    init = {k: v.clone() for k, v in full.state_dict().items()}
    t_full = trainer(tmp_path / "a", 3)
    t_full.fit(full, datamodule=make_data(data_dir))

    first = make_task()
    first.load_state_dict(init)
    t1 = trainer(tmp_path / "b", 3, [KillAfterEpoch(0)])
    t1.fit(first, datamodule=make_data(data_dir))
    ckpt = tmp_path / "b" / "epoch1.ckpt"
    t1.save_checkpoint(ckpt)

    pl.seed_everything(123)  # a resumed run starts with other random state
    resumed = make_task()
    t2 = trainer(tmp_path / "c", 3)
    t2.fit(resumed, datamodule=make_data(data_dir), ckpt_path=str(ckpt))

    # 2 batches/epoch; the discriminator starts at batch 1: 6 + 5 optimizer steps
    assert t_full.global_step == t2.global_step == 11
    assert full.batches_done == resumed.batches_done == 6
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    for s_full, s_res in zip(full._schedulers, resumed._schedulers, strict=True):
        assert s_full.state_dict()["last_epoch"] == s_res.state_dict()["last_epoch"]
    opt_full, opt_res = (t.optimizers[1].state_dict()["state"] for t in (t_full, t2))
    for k in opt_full:
        torch.testing.assert_close(opt_full[k]["exp_avg"], opt_res[k]["exp_avg"], rtol=1e-5, atol=1e-7)
    # validation ran and wrote audio samples (no logger: wav files in the root dir)
    assert list((tmp_path / "a" / "samples").glob("batch*/u*.wav"))


def test_non_finite_step_is_skipped_and_counted(data_dir, tmp_path):
    pl.seed_everything(1)
    task = make_task(discriminator_start_step=0, ema_decay=None)
    forward = task.generator.forward
    calls = {"n": 0}

    def poisoned(x):
        calls["n"] += task.training
        out = forward(x)
        return out * float("nan") if task.training and calls["n"] == 2 else out

    task.generator.forward = poisoned
    t = trainer(tmp_path, 2)
    t.fit(task, datamodule=make_data(data_dir))
    assert task.skipped == {"g": 1, "d": 1}
    assert t.global_step == 2 * 4 - 2  # 4 batches, the second one's two updates skipped
    assert all(torch.isfinite(p).all() for p in task.parameters())
    assert t.callback_metrics["train/skipped_g"].item() == 1.0
    assert math.isfinite(t.callback_metrics["valid/mel_distance"].item())


def test_generator_dict_output_losses_are_weighted(data_dir, tmp_path):
    task = make_task(ema_decay=None)
    forward = task.generator.forward
    task.generator.forward = lambda x: {"audio": forward(x),
                                        "losses": {"commit": forward(x).pow(2).mean()}}
    with pytest.raises(ValueError, match="commit"):
        trainer(tmp_path, 1).fit(task, datamodule=make_data(data_dir))
    task = make_task(ema_decay=None, loss_weights={"mel": 45.0, "commit": 0.5})
    forward2 = task.generator.forward
    task.generator.forward = lambda x: {"audio": forward2(x),
                                        "losses": {"commit": forward2(x).pow(2).mean()}}
    t = trainer(tmp_path, 1)
    t.fit(task, datamodule=make_data(data_dir))
    assert "train/loss_commit" in t.callback_metrics


def test_short_audio_padded_or_skipped(data_dir):
    dm = make_data(data_dir)
    dm.setup("fit")
    assert dm.train_set.short_ids == ["u0"]
    item = dm.train_set[(0, 0)]
    assert item["audio"].shape == (2000,) and item["audio"][1700:].abs().max() == 0
    skip = SegmentDataModule(str(data_dir / "train"), str(data_dir / "valid"), SR, 0.25,
                             batch_size=4, num_workers=0, short="skip")
    skip.setup("fit")
    assert len(skip.train_set) == 7


def test_segments_depend_on_epoch_not_on_history(data_dir):
    dm = make_data(data_dir)
    dm.setup("fit")
    a = dm.train_set[(3, 1)]["audio"]
    dm.train_set[(3, 0)]
    torch.testing.assert_close(dm.train_set[(3, 1)]["audio"], a)


def test_generator_hop_must_match_frontend():
    with pytest.raises(ValueError, match="hop"):
        make_task(model={**GENERATOR, "upsample_rates": [5, 4, 2]})


class RecordValidation(pl.Callback):
    def __init__(self) -> None:
        self.seen = []

    def on_validation_end(self, trainer, pl_module) -> None:
        m = trainer.callback_metrics
        self.seen.append((pl_module.batches_done, m["valid/mel_distance"].item(),
                          m["valid/mel_distance_gan"].item()))


def test_gan_selection_metric_ranks_warm_up_checkpoints_last(data_dir, tmp_path):
    pl.seed_everything(1)
    # 2 batches/epoch: epoch 0 is the generator-only warm-up, epoch 1 trains the discriminator
    task = make_task(discriminator_start_step=2, ema_decay=None)
    record = RecordValidation()
    best = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="valid/mel_distance_gan",
                                        mode="min", save_top_k=3, filename="{epoch}")
    t = pl.Trainer(max_epochs=3, accelerator="cpu", logger=False, enable_progress_bar=False,
                   enable_model_summary=False, default_root_dir=tmp_path, num_sanity_val_steps=0,
                   callbacks=[record, best])
    t.fit(task, datamodule=make_data(data_dir))
    assert [b for b, _, _ in record.seen] == [2, 4, 6]
    (_, warm, warm_gan), *trained = record.seen
    assert warm_gan == pytest.approx(warm + WARMUP_OFFSET) and WARMUP_OFFSET == 1000.0
    assert all(gan == pytest.approx(d) for _, d, gan in trained)
    # whatever the distances, the export is a GAN-trained checkpoint
    assert best.best_model_path.endswith(("epoch=1.ckpt", "epoch=2.ckpt"))
    # no discriminator: no GAN phase to select
    plain = make_task(discriminator=None, ema_decay=None)
    t = trainer(tmp_path / "plain", 1)
    t.fit(plain, datamodule=make_data(data_dir))
    assert "valid/mel_distance_gan" not in t.callback_metrics
