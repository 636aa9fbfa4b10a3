"""recipes/fsdd/tts end to end on real FSDD audio with a tiny Tacotron 2 and a few steps:
prepare (one speaker; test digit sequences never in training), train, synthesise through a
vocoder exp dir (Griffin-Lim, same log-mel), score (audiokit-score task=tts against the real
recordings: MCD, F0, DNSMOS, attention failures, RTF; no ASR or SV judge here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from audiokit.inference.text2speech import Text2Speech
from audiokit.inference.vocode import write_griffin_lim_exp_dir

BIN = Path(sys.executable).parent
TINY = ["model.embed_dim=16", "model.attention_rnn_dim=24", "model.decoder_rnn_dim=24",
        "model.attention_dim=8", "model.location_filters=4", "model.prenet_dim=8",
        "model.postnet_dim=8", "model.postnet_layers=2", "trainer.max_steps=3",
        "trainer.val_check_interval=3", "task.num_val_plots=1", "callbacks.progress=null"]


@pytest.mark.slow
def test_tts_recipe_end_to_end(tmp_path, fsdd_root):
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", FSDD_ROOT=str(fsdd_root),
               WANDB_MODE="offline", OMP_NUM_THREADS="1")
    data, exp = tmp_path / "data", tmp_path / "exp"
    vocoder = write_griffin_lim_exp_dir(
        tmp_path / "voc", sample_rate=8000, n_iter=4,
        frontend={"_target_": "audiokit.frontends.LogMel", "sample_rate": 8000, "n_mels": 80,
                  "win_ms": 25.0, "hop_ms": 10.0, "n_fft": 256, "f_min": 0.0, "f_max": None,
                  "stats_file": None, "vtln_warp": None, "utterance_cmn": False})
    proc = subprocess.run(
        [str(REPO / "recipes/fsdd/tts/run.sh"), "--data-dir", str(data), "--exp-dir", str(exp),
         "--train-count", "6", "--valid-count", "2", "--test-count", "3",
         "--vocoder-exp", str(vocoder), "--", *TINY],
        env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for n in range(1, 5):
        assert f"=== stage {n}:" in proc.stdout
    # one speaker; the test digit sequences never occur in training
    train_text = dict(line.split(" ", 1) for line in (data / "train" / "text").read_text().splitlines())
    test_text = dict(line.split(" ", 1) for line in (data / "test" / "text").read_text().splitlines())
    assert len(test_text) == 3 and not set(test_text.values()) & set(train_text.values())
    assert {line.split()[1] for line in (data / "train" / "utt2spk").read_text().splitlines()} == {"jackson"}
    out = exp / "synth" / "test"
    scp = dict(line.split() for line in (out / "wav.scp").read_text().splitlines())
    assert sorted(scp) == sorted(test_text)
    assert json.loads((out / "rtf.json").read_text())["vocoder"] == str(vocoder)
    assert len((out / "attention_failures").read_text().splitlines()) == 3
    # scored against the real recordings of the same strings
    report = json.loads((exp / "scores" / "test" / "report.json").read_text())
    assert report["task"] == "tts" and report["num_utts"] == 3
    scored = report["counts"]["mcd"]
    assert scored + len(report["undefined"].get("mcd", {})) == 3 and scored > 0
    assert 0 < report["metrics"]["mcd"] < 100  # dB; a few training steps: far from the voice
    assert 1 <= report["metrics"]["dnsmos_ovrl_real"] <= 5
    assert report["attention_failures"]["num_utts"] == 3
    assert report["rtf"] == json.loads((out / "rtf.json").read_text())
    assert len((exp / "scores" / "test" / "per_utt.csv").read_text().splitlines()) == 1 + 3
    assert "| MCD (dB, DTW, mel-cepstrum 1-24) |" in (exp / "RESULTS.md").read_text()
    assert "audiokit-score test: MCD" in proc.stdout and "attention failures" in proc.stdout
    assert list((exp / "attention").glob("epoch*_*.png"))
    # the exp dir speaks any text in Python too
    wav = Text2Speech.from_exp_dir(exp)("nine 8 7")
    assert wav.dim() == 1 and wav.numel() > 0
