"""recipes/ljspeech/tts on a fixture tree in the real LJSpeech-1.1 layout (FSDD speech resampled
to 22,050 Hz; LJSpeech is not on this machine): a tiny 22.05 kHz VITS through every stage
(prepare from metadata.csv's normalized column, train, synthesise, score against the real
recordings), and a tiny Tacotron 2 (--experiment tts/ljspeech_tacotron2) trained and
synthesised through a vocoder exp dir of the same features."""

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

from audiokit.data.corpora import ljspeech
from audiokit.inference.vocode import write_griffin_lim_exp_dir

BIN = Path(sys.executable).parent
VITS_TINY = ["model.latent_channels=8", "model.segment_frames=8", "model.text_encoder.hidden=16",
             "model.text_encoder.ffn_hidden=32", "model.text_encoder.layers=1",
             "model.posterior_encoder.hidden=16", "model.posterior_encoder.layers=2",
             "model.flow.hidden=16", "model.flow.layers=1", "model.flow.flows=2",
             "model.duration_predictor.hidden=16", "model.duration_predictor.flows=2",
             "model.decoder.channels=16", "task.discriminator.channels=[4,4,4,4,4]",
             "trainer.max_steps=4", "trainer.val_check_interval=2", "data.num_workers=0",
             "callbacks.progress=null"]
TACOTRON2_TINY = ["model.embed_dim=16", "model.attention_rnn_dim=24", "model.decoder_rnn_dim=24",
                  "model.attention_dim=8", "model.location_filters=4", "model.prenet_dim=8",
                  "model.postnet_dim=8", "model.postnet_layers=2", "trainer.max_steps=3",
                  "trainer.val_check_interval=3", "task.num_val_plots=1", "data.num_workers=0",
                  "callbacks.progress=null"]


def run_recipe(args: list, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", WANDB_MODE="offline",
               OMP_NUM_THREADS="1")
    env.pop("LJSPEECH_ROOT", None)
    proc = subprocess.run([str(REPO / "recipes/ljspeech/tts/run.sh"), *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc


@pytest.mark.slow
def test_ljspeech_vits_recipe_end_to_end(tmp_path, fsdd_root):
    write_fsdd_ljspeech_tree(tmp_path / "corpus", fsdd_root, 8)
    data, exp = tmp_path / "data", tmp_path / "exp"
    proc = run_recipe(["--root", tmp_path / "corpus", "--data-dir", data, "--exp-dir", exp,
                       "--valid-count", "2", "--test-count", "2", "--", *VITS_TINY], tmp_path)
    for n in range(1, 5):
        assert f"=== stage {n}:" in proc.stdout
    # the split by sorted id; the text is the normalized column ("six nine.", not "6 9.")
    assert [len((data / s / "text").read_text().splitlines()) for s in ("train", "valid", "test")] == [4, 2, 2]
    texts = dict(line.split(" ", 1) for line in (data / "test" / "text").read_text().splitlines())
    assert texts == {"LJ001-0007": "six nine.", "LJ001-0008": "seven two."}
    saved = torch.load(exp / "model.pt", weights_only=True)
    assert saved["task"] == "audiokit.tasks.vits.VITSTask"
    out = exp / "synth" / "test"
    scp = dict(line.split() for line in (out / "wav.scp").read_text().splitlines())
    assert sorted(scp) == sorted(texts)
    for path in scp.values():
        audio, rate = sf.read(path)
        # an untrained duration predictor under the length guard: a frame to a few seconds
        assert rate == 22050 and audio.ndim == 1 and 256 <= len(audio) <= 22050 * 10
    assert json.loads((out / "rtf.json").read_text())["vocoder"] == "none (end to end)"
    # scored against the real recordings of the same texts
    report = json.loads((exp / "scores" / "test" / "report.json").read_text())
    assert report["task"] == "tts" and report["num_utts"] == 2
    assert report["counts"]["mcd"] + len(report["undefined"].get("mcd", {})) == 2
    assert 0 < report["metrics"]["mcd"] < 100  # dB; a few training steps: far from the voice
    assert 1 <= report["metrics"]["dnsmos_ovrl_real"] <= 5
    assert "| MCD (dB, DTW, mel-cepstrum 1-24) |" in (exp / "RESULTS.md").read_text()
    assert f"results: {exp}/RESULTS.md" in proc.stdout


@pytest.mark.slow
def test_ljspeech_tacotron2_through_a_vocoder_exp_dir(tmp_path, fsdd_root):
    ljspeech.prepare(write_fsdd_ljspeech_tree(tmp_path / "corpus", fsdd_root, 6), tmp_path / "data", 1, 1)
    # a vocoder exp dir with the features of voc/ljspeech_hifigan_v1 (Griffin-Lim: no training)
    vocoder = write_griffin_lim_exp_dir(
        tmp_path / "voc", sample_rate=22050, n_iter=4,
        frontend={"_target_": "audiokit.frontends.LogMel", "sample_rate": 22050, "n_mels": 80,
                  "win_ms": 46.44, "hop_ms": 11.61, "n_fft": 1024, "f_min": 0.0, "f_max": 8000.0,
                  "stats_file": None, "vtln_warp": None, "utterance_cmn": False})
    exp = tmp_path / "exp"
    run_recipe(["--experiment", "tts/ljspeech_tacotron2", "--stage", "2", "--stop-stage", "3",
                "--data-dir", tmp_path / "data", "--exp-dir", exp, "--vocoder-exp", vocoder,
                "--", *TACOTRON2_TINY], tmp_path)
    saved = torch.load(exp / "model.pt", weights_only=True)
    assert saved["task"] == "audiokit.tasks.tts.TTSTask"
    out = exp / "synth" / "test"
    (utt, path), = (line.split() for line in (out / "wav.scp").read_text().splitlines())
    assert utt == "LJ001-0006"
    audio, rate = sf.read(path)
    assert rate == 22050 and len(audio) > 0 and len(audio) % 256 == 0  # whole frames of 256
    assert json.loads((out / "rtf.json").read_text())["vocoder"] == str(vocoder)
    assert len((out / "attention_failures").read_text().splitlines()) == 1
