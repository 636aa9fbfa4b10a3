"""WaveRNN: mu-law against torchaudio, fold/unfold, causality of teacher forcing, folded
generation shapes, and training through the GAN task without a discriminator."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
import torchaudio

from audiokit.models.vocoder.wavernn import WaveRNN, fold, mu_law_decode, mu_law_encode


def test_mu_law_matches_torchaudio():
    x = torch.linspace(-1, 1, 1001)
    assert torch.equal(mu_law_encode(x, 512), torchaudio.functional.mu_law_encoding(x, 512))
    c = torch.arange(512)
    torch.testing.assert_close(mu_law_decode(c, 512), torchaudio.functional.mu_law_decoding(c, 512))


def test_fold_unfold_round_trip():
    from audiokit.models.vocoder.wavernn import unfold

    x = torch.randn(2, 1234)
    folds = fold(x, 300, 40)
    assert folds.shape == (2 * 5, 340)
    torch.testing.assert_close(folds[1, :340], x[0, 300:640])
    torch.testing.assert_close(unfold(folds, 2, 300, 40, 1234), x)


@pytest.mark.parametrize("output", ["softmax", "gaussian"])
def test_teacher_forcing_is_causal(output):
    torch.manual_seed(0)
    m = WaveRNN(in_channels=8, hop_length=10, output=output, bits=8, rnn_dims=16, fc_dims=16,
                cond_dims=4)
    feats = torch.randn(1, 5, 8)
    target = torch.rand(1, 50) - 0.5
    head = {}

    def capture(mod, inp, out):
        head["out"] = out

    m.fc2.register_forward_hook(capture)
    m(feats, target)
    before = head["out"].clone()
    changed = target.clone()
    changed[0, 30] = 0.9
    m(feats, changed)
    torch.testing.assert_close(head["out"][:, :31], before[:, :31])  # sample 30 feeds 31 on
    assert not torch.allclose(head["out"][:, 31], before[:, 31])


def test_folded_generation_length():
    m = WaveRNN(in_channels=8, hop_length=10, bits=8, rnn_dims=16, fc_dims=16, cond_dims=4,
                fold_frames=3, overlap_frames=1)
    wav = m(torch.randn(2, 7, 8))
    assert wav.shape == (2, 70) and wav.abs().max() <= 1


def test_trains_in_the_gan_task_without_discriminator(tmp_path):
    import numpy as np
    import soundfile as sf

    from audiokit.data.segments import SegmentDataModule
    from audiokit.tasks.gan import GANTask

    for split in ("train", "valid"):
        d = tmp_path / split
        d.mkdir()
        lines = []
        for i in range(4):
            wav = 0.3 * np.sin(2 * np.pi * 220 * np.arange(4000) / 8000).astype(np.float32)
            sf.write(d / f"u{i}.wav", wav, 8000)
            lines.append(f"u{i} {d / f'u{i}.wav'}")
        (d / "wav.scp").write_text("\n".join(lines) + "\n")
    task = GANTask(
        8000, {"_target_": "audiokit.models.vocoder.wavernn.WaveRNN", "in_channels": 20,
               "rnn_dims": 16, "fc_dims": 16, "cond_dims": 4, "fold_frames": 5},
        None, {"_target_": "torch.optim.Adam", "lr": 3e-3},
        frontend={"_target_": "audiokit.frontends.LogMel", "sample_rate": 8000, "n_mels": 20,
                  "n_fft": 256}, loss_weights={"nll": 1.0})
    dm = SegmentDataModule(str(tmp_path / "train"), str(tmp_path / "valid"), 8000, 0.1,
                           batch_size=2, num_workers=0)
    trainer = pl.Trainer(max_steps=6, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False,
                         num_sanity_val_steps=0, default_root_dir=tmp_path, limit_val_batches=1)
    trainer.fit(task, datamodule=dm)
    assert trainer.global_step == 6 and task.batches_done == 6
    assert torch.isfinite(trainer.callback_metrics["train/loss_nll"])
    assert torch.isfinite(trainer.callback_metrics["valid/mel_distance"])
