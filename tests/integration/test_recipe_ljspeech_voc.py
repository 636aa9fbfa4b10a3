"""recipes/ljspeech/voc end to end on a fixture tree in the real LJSpeech-1.1 layout (FSDD
speech resampled to 22,050 Hz; LJSpeech is not on this machine): prepare (metadata.csv's
normalized column, split by sorted id), a tiny 22.05 kHz HiFi-GAN V1 for a few steps, copy
synthesis, scoring. --griffin-lim false keeps it to seconds: the Griffin-Lim row runs the same
code as recipes/fsdd/voc, whose test covers it."""

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
from ljspeech_tree import write_fsdd_ljspeech_tree

BIN = Path(sys.executable).parent
TINY = ["model.channels=16", "task.discriminator.discriminators.mpd.channels=[4,4,4,4,4]",
        "task.discriminator.discriminators.msd.width=0.0625", "task.discriminator_start_step=2",
        "data.batch_size=2", "trainer.max_steps=6", "trainer.val_check_interval=3",
        "data.max_valid_utterances=2", "data.num_workers=0", "callbacks.progress=null"]


@pytest.mark.slow
def test_ljspeech_vocoder_recipe_end_to_end(tmp_path, fsdd_root):
    write_fsdd_ljspeech_tree(tmp_path / "corpus", fsdd_root, 8)
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", WANDB_MODE="offline",
               OMP_NUM_THREADS="1")
    env.pop("LJSPEECH_ROOT", None)
    data, exp = tmp_path / "data", tmp_path / "exp"
    proc = subprocess.run(
        [str(REPO / "recipes/ljspeech/voc/run.sh"), "--root", str(tmp_path / "corpus"),
         "--data-dir", str(data), "--exp-dir", str(exp), "--valid-count", "2", "--test-count", "2",
         "--griffin-lim", "false", "--", *TINY],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for n in range(1, 5):
        assert f"=== stage {n}:" in proc.stdout
    # the split by sorted id, the normalized column
    assert [len((data / s / "wav.scp").read_text().splitlines()) for s in ("train", "valid", "test")] == [4, 2, 2]
    test_ref = dict(line.split() for line in (data / "test" / "wav.scp").read_text().splitlines())
    assert sorted(test_ref) == ["LJ001-0007", "LJ001-0008"]
    assert (data / "test" / "text").read_text().splitlines()[0] == "LJ001-0007 six nine."
    saved = torch.load(exp / "model.pt", weights_only=True)
    assert saved["hparams"]["sample_rate"] == 22050
    scp = dict(line.split() for line in (exp / "infer" / "test" / "wav.scp").read_text().splitlines())
    assert sorted(scp) == sorted(test_ref)
    for utt, path in scp.items():
        info, ref = sf.info(path), sf.info(test_ref[utt])
        assert info.samplerate == 22050 and info.channels == 1
        assert info.frames == ref.frames  # same length, aligned with the original
    report = json.loads((exp / "scores" / "test" / "report.json").read_text())
    assert report["task"] == "vocoder" and report["rtf"]["num_utts"] == 2
    assert {"pesq_wb", "stoi", "mel_distance", "si_snr"} <= set(report["metrics"])
    assert report["counts"]["pesq_wb"] == 2 and report["metrics"]["mel_distance"] > 0
    assert "| pesq_wb |" in (exp / "RESULTS.md").read_text()
    assert not (exp / "griffin_lim").exists()
    assert f"results: {exp}/RESULTS.md" in proc.stdout


def test_ljspeech_recipes_name_the_missing_corpus_root(tmp_path):
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    env.pop("LJSPEECH_ROOT", None)
    for task in ("voc", "tts"):
        proc = subprocess.run([str(REPO / f"recipes/ljspeech/{task}/run.sh"), "--data-dir",
                               str(tmp_path / "data"), "--exp-dir", str(tmp_path / "exp")],
                              env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and "=== stage 1:" in proc.stdout
        assert "give --root (or set LJSPEECH_ROOT): the folder with LJSpeech-1.1/" in proc.stderr
        assert not (tmp_path / "data").exists()
