"""recipes/fsdd/cls end to end on a tiny slice of real FSDD audio, then inference on data the
recipe never saw, and the loud failures promised for bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import REPO

RUN = REPO / "recipes/fsdd/cls/run.sh"
BIN = Path(sys.executable).parent


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, **kwargs)


TINY = ["--train-index", "10:20", "--valid-index", "5:7", "--test-index", "0:2"]
FAST = ["--", "trainer.max_epochs=10", "data.max_batch_seconds=5", "data.num_workers=1",
        "callbacks.progress=null"]


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory, fsdd_root):
    work = tmp_path_factory.mktemp("recipe")
    exp = work / "exp"
    proc = run([str(RUN), "--data-dir", str(work / "data"), "--exp-dir", str(exp), *TINY, *FAST])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return work, exp, proc


@pytest.mark.slow
def test_recipe_end_to_end(recipe_run):
    work, exp, proc = recipe_run
    for n, name in enumerate(["prepare data dirs", "global CMVN", "train", "infer", "score"], 1):
        assert f"=== stage {n}: {name}" in proc.stdout
        assert (exp / ".done" / f"stage{n}").is_file()
    assert proc.stdout.strip().splitlines()[-1] == f"exp dir: {exp}  results: {exp}/RESULTS.md"
    for f in ("config.yaml", "run_info.json", "model.pt", "cmvn.json", "checkpoints/last.ckpt",
              "infer/test/utt2label", "scores/test/confusion.png", "RESULTS.md"):
        assert (exp / f).exists(), f
    info = json.loads((exp / "run_info.json").read_text())
    assert info["git_sha"] and info["versions"]["torch"].startswith("2.14.1")
    report = json.loads((exp / "scores/test/report.json").read_text())
    assert report["num_utts"] == 100
    # 10 short epochs on 500 utterances: far from the full recipe, but learning (chance: 10 %)
    assert report["accuracy"] >= 0.5, report["accuracy"]
    results = (exp / "RESULTS.md").read_text()
    assert "| accuracy |" in results and "git SHA" in results and "recipe: `" in results


@pytest.mark.slow
def test_stages_are_idempotent(recipe_run):
    work, exp, _ = recipe_run
    before = {p: p.read_bytes() for p in (work / "data").rglob("*") if p.is_file()}
    proc = run([str(RUN), "--data-dir", str(work / "data"), "--exp-dir", str(exp), *TINY,
                "--stop-stage", "1"])
    assert proc.returncode == 0, proc.stderr
    after = {p: p.read_bytes() for p in (work / "data").rglob("*") if p.is_file()}
    assert before == after


@pytest.mark.slow
def test_heldout_speakers_option_scores_every_recording_of_the_unseen_voice(recipe_run, tmp_path):
    from audiokit.data.datadir import DataDir

    _, trained, _ = recipe_run
    exp, data = tmp_path / "exp", tmp_path / "data"
    shutil.copytree(trained, exp)  # the module's run stays as it was
    recipe = [str(RUN), "--data-dir", str(data), "--exp-dir", str(exp), *TINY]
    proc = run([*recipe, "--heldout-speakers", "theo", "--stop-stage", "1"])
    assert proc.returncode == 2 and "needs --speakers" in proc.stderr, proc.stderr
    recipe += ["--speakers", "george,jackson", "--heldout-speakers", "theo"]
    proc = run([*recipe, "--stop-stage", "1"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(set(DataDir.load(data / "train").utt2spk.values())) == ["george", "jackson"]
    heldout = DataDir.load(data / "test_heldout")
    assert set(heldout.utt2spk.values()) == {"theo"} and len(heldout) == 500
    assert not (data / ".heldout").exists()
    proc = run([*recipe, "--stage", "4"])  # infer and score with the module's tiny model
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert json.loads((exp / "scores/test_heldout/report.json").read_text())["num_utts"] == 500


@pytest.mark.slow
def test_infer_on_a_data_dir_built_elsewhere(recipe_run, fsdd_root, tmp_path):
    """Files the recipe never saw, in a folder of our own, made into a data dir by hand."""
    _, exp, _ = recipe_run
    audio = tmp_path / "audio"
    audio.mkdir()
    for f in sorted((fsdd_root / "recordings").glob("*_theo_4[0-9].wav"))[:30]:
        shutil.copy(f, audio / f"clip-{f.stem}.wav")
    data = tmp_path / "mine"
    proc = run([str(BIN / "audiokit-prep"), "folder", "--audio-dir", str(audio), "--out", str(data),
                "--label-regex", r"clip-(\d)_"])
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    proc = run([str(BIN / "audiokit-infer"), f"exp_dir={exp}", f"data_dir={data}", f"output_dir={out}"])
    assert proc.returncode == 0, proc.stderr
    hyp = dict(line.split() for line in (out / "utt2label").read_text().splitlines())
    assert len(hyp) == 30 and set(hyp.values()) <= {str(d) for d in range(10)}
    proc = run([str(BIN / "audiokit-score"), "task=cls", f"ref={data}/utt2label", f"hyp={out}/utt2label"])
    assert proc.returncode == 0 and "accuracy" in proc.stdout


@pytest.mark.slow
def test_python_api_labels_a_waveform(recipe_run, fsdd_root):
    from audiokit.inference.classify import AudioClassifier

    _, exp, _ = recipe_run
    clf = AudioClassifier.from_exp_dir(exp)
    wav, sr = sf.read(fsdd_root / "recordings/3_george_0.wav", dtype="float32")
    assert sr == clf.sample_rate
    assert clf(torch.from_numpy(wav)) in clf.labels


def test_bad_audio_is_named_by_the_prepare_stage(tmp_path, fsdd_root):
    data = tmp_path / "data"
    proc = run([str(BIN / "audiokit-prep"), "fsdd", "--root", str(fsdd_root), "--out", str(data),
                "--train-index", "10:12", "--valid-index", "5:6", "--test-index", "0:1"])
    assert proc.returncode == 0, proc.stderr
    empty, garbage = tmp_path / "empty.wav", tmp_path / "garbage.wav"
    sf.write(empty, np.zeros((0, 1), dtype="float32"), 8000)
    garbage.write_bytes(b"RIFF-not-really")
    scp = data / "train" / "wav.scp"
    lines = scp.read_text().splitlines()
    lines[0] = lines[0].split()[0] + f" {empty}"
    lines[1] = lines[1].split()[0] + f" {garbage}"
    lines[2] = lines[2].split()[0] + f" {tmp_path}/missing.wav"
    scp.write_text("\n".join(lines) + "\n")
    bad = [line.split()[0] for line in lines[:3]]
    proc = run([str(RUN), "--data-dir", str(data), "--exp-dir", str(tmp_path / "exp"),
                "--stage", "1", "--stop-stage", "1", "--train-set", str(data / "train"),
                "--valid-set", str(data / "valid"), "--test-sets", str(data / "test")])
    assert proc.returncode != 0
    assert "3 of 100 utterance(s) with bad audio" in proc.stdout
    for utt, path in zip(bad, [empty, garbage, tmp_path / "missing.wav"], strict=False):
        assert f"{utt}: {path}" in proc.stdout
    # Training on it stops before the first step with the same names, not in a worker.
    proc = run([str(BIN / "audiokit-train"), "experiment=cls/fsdd_cnn", f"paths.data_root={data}",
                f"exp_dir={tmp_path}/exp2", "callbacks.progress=null"])
    assert proc.returncode != 0
    assert "3 utterance(s) with bad audio" in proc.stderr and bad[0] in proc.stderr
    assert "Traceback" not in proc.stderr


def test_misspelt_key_fails_at_once_naming_the_right_one():
    proc = run([str(BIN / "audiokit-train"), "experiment=cls/fsdd_cnn", "trainer.max_epoch=3"])
    assert proc.returncode != 0
    assert "did you mean 'trainer.max_epochs'?" in proc.stderr


def test_cfg_job_prints_composed_config():
    proc = run([str(BIN / "audiokit-train"), "experiment=cls/fsdd_cnn", "--cfg", "job"])
    assert proc.returncode == 0, proc.stderr
    assert "_target_: audiokit.models.classification.resnet.ResNetClassifier" in proc.stdout
    assert "max_epochs: 50" in proc.stdout
