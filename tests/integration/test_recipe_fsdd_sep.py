"""recipes/fsdd/sep and recipes/fsdd/enh end to end on small slices of real FSDD audio, and
separation of mixtures with a speaker the recipe never saw."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from conftest import REPO

BIN = Path(sys.executable).parent
FOUR = "george,jackson,nicolas,yweweler"   # theo is held out
TINY_CONVTASNET = ["model.num_filters=64", "model.bottleneck_channels=32",
                   "model.hidden_channels=64", "model.num_blocks=4", "model.num_repeats=1",
                   "trainer.precision=32-true", "trainer.max_time=null", "data.num_workers=0",
                   "callbacks.progress=null"]


def run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    return subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True,
                          timeout=1200, **kwargs)


def prep(*args) -> None:
    proc = run([BIN / "audiokit-prep", *args])
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def sep_run(tmp_path_factory, fsdd_root):
    work = tmp_path_factory.mktemp("sep")
    data, single, exp = work / "data", work / "single", work / "exp"
    prep("fsdd-mix", "--root", fsdd_root, "--out", data, "--speakers", FOUR,
         "--train-count", "20", "--valid-count", "12", "--test-count", "12")
    prep("fsdd", "--root", fsdd_root, "--out", single, "--speakers", FOUR,
         "--train-index", "10:20", "--valid-index", "5:6", "--test-index", "0:1")
    proc = run([REPO / "recipes/fsdd/sep/run.sh", "--exp-dir", exp, "--train-set", data / "train",
                "--valid-set", data / "valid", "--test-sets", data / "test",
                "--source-dir", single / "train", "--metrics", "si_snr si_snri sdri stoi", "--",
                *TINY_CONVTASNET, "trainer.max_epochs=12", "data.dynamic_mixing.epoch_size=400",
                "scheduler.warmup_steps=50"])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return work, exp, proc


@pytest.mark.slow
def test_separation_recipe_end_to_end(sep_run):
    work, exp, proc = sep_run
    for n, name in enumerate(["prepare mixture data dirs", "train", "separate the test sets",
                              "score"], 1):
        assert f"=== stage {n}: {name}" in proc.stdout
    out = exp / "infer/test"
    for k in (1, 2):
        scp = dict(line.split() for line in (out / f"spk{k}.scp").read_text().splitlines())
        assert len(scp) == 12
        audio, rate = sf.read(next(iter(scp.values())))
        assert rate == 8000 and audio.ndim == 1 and abs(audio).max() > 0
    report = json.loads((exp / "scores/test/report.json").read_text())
    # 4,800 fresh mixtures through a 60 k-parameter model: far from the recipe's figures, but
    # clearly separating (a model that has not learnt gives ~0 dB).
    assert report["metrics"]["si_snri"] > 1.0, report["metrics"]
    results = (exp / "RESULTS.md").read_text()
    assert "| SI-SNRi (dB) |" in results and "| STOI |" in results


@pytest.mark.slow
def test_separation_of_a_speaker_the_recipe_never_saw(sep_run, fsdd_root, tmp_path):
    _, exp, _ = sep_run
    prep("fsdd-mix", "--root", fsdd_root, "--out", tmp_path / "theo", "--speakers",
         "theo,george", "--train-count", "1", "--valid-count", "1", "--test-count", "6")
    out = tmp_path / "out"
    proc = run([BIN / "audiokit-infer", f"exp_dir={exp}", f"data_dir={tmp_path}/theo/test",
                f"output_dir={out}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run([BIN / "audiokit-score", "task=sep", f"ref={tmp_path}/theo/test", f"hyp={out}",
                "metrics=[si_snri]"])
    assert proc.returncode == 0 and "si_snri" in proc.stdout, proc.stderr[-3000:]


@pytest.mark.slow
def test_enhancement_recipe_end_to_end(tmp_path, fsdd_root):
    data, exp = tmp_path / "data", tmp_path / "exp"
    prep("fsdd-noisy", "--root", fsdd_root, "--out", data, "--speakers", FOUR,
         "--train-index", "10:25", "--valid-index", "5:6", "--test-index", "0:1")
    proc = run([REPO / "recipes/fsdd/enh/run.sh", "--exp-dir", exp, "--train-set", data / "train",
                "--valid-set", data / "valid", "--test-sets", data / "test", "--",
                *TINY_CONVTASNET, "trainer.max_epochs=8", "scheduler.warmup_steps=50"])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert (exp / "infer/test/wav.scp").is_file()  # enhancement: one source, as wav.scp
    metrics = json.loads((exp / "scores/test/report.json").read_text())["metrics"]
    assert metrics["si_snri"] > 1.0, metrics
    assert {"pesq_nb", "pesq_nb_input", "stoi", "stoi_input"} <= set(metrics)
    results = (exp / "RESULTS.md").read_text()
    assert "| PESQ (narrow band) |" in results and "input (mixture)" in results
