"""recipes/fsdd/voc end to end on real FSDD audio with a tiny HiFi-GAN and a few steps:
prepare (training speakers' digits, digit strings of those speakers and of a held-out
voice), train, copy synthesis with HiFi-GAN and Griffin-Lim, scoring."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch
from conftest import REPO

from audiokit.inference.vocode import Vocoder

BIN = Path(sys.executable).parent
TINY = ["model.channels=16", "task.discriminator.discriminators.mpd.channels=[4,4,4,4,4]",
        "task.discriminator.discriminators.msd.width=0.0625", "task.discriminator_start_step=2",
        "trainer.max_steps=6", "trainer.val_check_interval=3", "data.max_valid_utterances=2",
        "data.num_workers=0", "callbacks.progress=null"]


@pytest.mark.slow
def test_vocoder_recipe_end_to_end(tmp_path, fsdd_root):
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", FSDD_ROOT=str(fsdd_root),
               WANDB_MODE="offline", OMP_NUM_THREADS="1")
    data, exp = tmp_path / "data", tmp_path / "exp"
    proc = subprocess.run(
        [str(REPO / "recipes/fsdd/voc/run.sh"), "--data-dir", str(data), "--exp-dir", str(exp),
         "--test-count", "2", "--", *TINY],
        env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for n in range(1, 5):
        assert f"=== stage {n}:" in proc.stdout
    # the held-out voice is in no training data dir
    train_spk = {line.split()[1] for line in (data / "train" / "utt2spk").read_text().splitlines()}
    assert "theo" not in train_spk
    for e in (exp, exp / "griffin_lim"):
        for name in ("test_strings", "heldout_strings"):
            out = e / "infer" / name
            scp = dict(line.split() for line in (out / "wav.scp").read_text().splitlines())
            ref = dict(line.split() for line in (data / name / "wav.scp").read_text().splitlines())
            assert sorted(scp) == sorted(ref)
            utt = next(iter(ref))
            assert sf.info(scp[utt]).frames == sf.info(ref[utt]).frames  # same length, aligned
            report = json.loads((e / "scores" / name / "report.json").read_text())
            assert report["task"] == "vocoder" and "pesq_nb" in report["metrics"]
            assert report["rtf"]["num_utts"] == len(ref)
        assert "| pesq_nb |" in (e / "RESULTS.md").read_text()
    # a vocoder exp dir serves later TTS models: mel in, waveform out
    voc = Vocoder.from_exp_dir(exp)
    audio, _ = sf.read(next(iter(ref.values())), dtype="float32")
    mel = voc.features(torch.from_numpy(audio))
    assert voc(mel).shape == (mel.shape[0] * 80,)


@pytest.mark.slow
def test_wavernn_recipe_end_to_end(tmp_path, fsdd_root):
    """The autoregressive vocoder through the same recipe: trained teacher-forced, generated
    fold by fold, scored; rows for both test sets."""
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", FSDD_ROOT=str(fsdd_root),
               WANDB_MODE="offline", OMP_NUM_THREADS="1")
    data, exp = tmp_path / "data", tmp_path / "exp"
    proc = subprocess.run(
        [str(REPO / "recipes/fsdd/voc/run.sh"), "--experiment", "voc/fsdd_wavernn",
         "--data-dir", str(data), "--exp-dir", str(exp), "--test-count", "1",
         "--griffin-lim", "false", "--", "model.rnn_dims=16", "model.fc_dims=16",
         "model.cond_dims=4", "trainer.max_steps=4", "trainer.val_check_interval=2",
         "data.max_valid_utterances=1", "data.num_workers=0", "callbacks.progress=null"],
        env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert not (exp / "griffin_lim").exists()
    for name in ("test_strings", "heldout_strings"):
        ref = dict(line.split() for line in (data / name / "wav.scp").read_text().splitlines())
        scp = dict(line.split() for line in
                   (exp / "infer" / name / "wav.scp").read_text().splitlines())
        assert sorted(scp) == sorted(ref)
        for utt in ref:
            assert sf.info(scp[utt]).frames == sf.info(ref[utt]).frames
            assert sf.read(scp[utt])[0].std() > 0  # sampled, not silence
        report = json.loads((exp / "scores" / name / "report.json").read_text())
        assert report["task"] == "vocoder" and report["rtf"]["num_utts"] == len(ref)
    voc = Vocoder.from_exp_dir(exp)
    assert type(voc.task.generator).__name__ == "WaveRNN"
