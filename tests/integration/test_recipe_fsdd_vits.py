"""recipes/fsdd/tts with --experiment tts/fsdd_vits on real FSDD audio: a tiny two-speaker
VITS (--speakers) trained for a few batches, then the test strings synthesised with no
vocoder, each in its own speaker's voice (utt2spk), into wav.scp and wavs of sane length."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import soundfile as sf
import torch
from conftest import REPO

BIN = Path(sys.executable).parent
TINY = ["model.latent_channels=8", "model.speaker_channels=4", "model.segment_frames=8",
        "model.text_encoder.hidden=16", "model.text_encoder.ffn_hidden=32", "model.text_encoder.layers=1",
        "model.posterior_encoder.hidden=16", "model.posterior_encoder.layers=2",
        "model.flow.hidden=16", "model.flow.layers=1", "model.flow.flows=2",
        "model.duration_predictor.hidden=16", "model.duration_predictor.flows=2",
        "model.decoder.channels=16", "task.discriminator.channels=[4,4,4,4,4]",
        "trainer.max_steps=6", "trainer.val_check_interval=3", "callbacks.progress=null"]


def test_vits_recipe_two_speakers(tmp_path, fsdd_root):
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", FSDD_ROOT=str(fsdd_root),
               WANDB_MODE="offline", OMP_NUM_THREADS="1")
    data, exp = tmp_path / "data", tmp_path / "exp"
    proc = subprocess.run(
        [str(REPO / "recipes/fsdd/tts/run.sh"), "--experiment", "tts/fsdd_vits", "--speakers", "jackson,theo",
         "--data-dir", str(data), "--exp-dir", str(exp), "--train-count", "4", "--valid-count", "1",
         "--test-count", "2", "--stop-stage", "3", "--", *TINY],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    utt2spk = dict(line.split() for line in (data / "train" / "utt2spk").read_text().splitlines())
    assert sorted(set(utt2spk.values())) == ["jackson", "theo"] and len(utt2spk) == 8
    test_spk = dict(line.split() for line in (data / "test" / "utt2spk").read_text().splitlines())
    assert sorted(test_spk.values()) == ["jackson", "jackson", "theo", "theo"]
    saved = torch.load(exp / "model.pt", weights_only=True)
    assert saved["task"] == "audiokit.tasks.vits.VITSTask" and saved["hparams"]["speakers"] == ["jackson", "theo"]
    out = exp / "synth" / "test"
    scp = dict(line.split() for line in (out / "wav.scp").read_text().splitlines())
    assert sorted(scp) == sorted(test_spk)
    texts = dict(line.split(" ", 1) for line in (data / "test" / "text").read_text().splitlines())
    for utt, path in scp.items():
        audio, rate = sf.read(path)
        # an untrained duration predictor, bounded by the length guard (2 x the slowest
        # training rate): at least a frame, at most a few seconds per digit
        assert rate == 8000 and audio.ndim == 1 and 80 <= len(audio) <= 8000 * 3 * len(texts[utt].split())
    rtf = json.loads((out / "rtf.json").read_text())
    assert rtf["vocoder"] == "none (end to end)" and rtf["num_utts"] == 4
