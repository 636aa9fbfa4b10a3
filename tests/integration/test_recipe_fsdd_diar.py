"""recipes/fsdd/diar end to end on a few real FSDD conversations: EEND, and the pipeline
(speech/overlap detector + speaker embeddings + clustering tuned on valid); then RTTM output
for a data dir of conversations with a speaker the recipes never saw."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from audiokit.data.rttm import read_rttm

BIN = Path(sys.executable).parent
FOUR = "george,jackson,nicolas,yweweler"   # theo is held out
FAST = ["trainer.max_time=null", "data.num_workers=0", "callbacks.progress=null",
        "average_checkpoints=1"]


def run(cmd: list) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    return subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True,
                          timeout=1200)


def check(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc


@pytest.fixture(scope="module")
def conversations(tmp_path_factory, fsdd_root):
    data = tmp_path_factory.mktemp("diar") / "data"
    check(run([BIN / "audiokit-prep", "fsdd-conversations", "--root", fsdd_root, "--out", data,
               "--speakers", FOUR, "--train-count", "48", "--valid-count", "6",
               "--test-count", "6"]))
    return data


def recipe(data: Path, exp: Path, experiment: str, *extra) -> subprocess.CompletedProcess:
    return check(run([REPO / "recipes/fsdd/diar/run.sh", "--experiment", experiment,
                      "--exp-dir", exp, "--train-set", data / "train", "--valid-set",
                      data / "valid", "--test-sets", data / "test", *extra]))


def der_report(exp: Path) -> dict:
    return json.loads((exp / "scores/test/report.json").read_text())


@pytest.fixture(scope="module")
def eend_run(conversations):
    exp = conversations.parent / "eend"
    proc = recipe(conversations, exp, "diar/fsdd_eend", "--", "model.d_model=64",
                  "model.num_layers=2", "model.ff_dim=128", "trainer.max_epochs=4",
                  "scheduler.warmup_steps=10", *FAST)
    return exp, proc


@pytest.mark.slow
def test_eend_recipe_end_to_end(eend_run, conversations):
    exp, proc = eend_run
    for n, name in enumerate(["prepare conversation", "global CMVN", "pipeline only: train",
                              "train", "tune on the valid conversations", "diarize", "score"], 1):
        assert f"=== stage {n}: {name}" in proc.stdout
    assert "end to end: no speaker-embedding model needed" in proc.stdout
    # stage 5 picked the activity threshold and median filter on valid; stage 6 used them
    tuned = (exp / "tuned/overrides").read_text().splitlines()
    assert [line.split("=")[0] for line in tuned] == ["diarization.threshold",
                                                      "diarization.median_frames"]
    hyp = read_rttm(exp / "infer/test/rttm")
    assert set(hyp) <= set(read_rttm(conversations / "test/rttm"))
    report = der_report(exp)
    collars = {c["collar"]: c for c in report["collars"]}
    assert set(collars) == {0.25, 0.0}
    # a few epochs of a tiny model: it finds speech (not everything missed), errors add up
    zero = collars[0.0]
    assert zero["missed"] < 90 and 0 < zero["der"] < 200
    assert zero["der"] == pytest.approx(zero["missed"] + zero["false_alarm"] + zero["confusion"])
    assert "DER" in (exp / "RESULTS.md").read_text()


@pytest.mark.slow
def test_pipeline_recipe_with_a_speaker_experiment(conversations, fsdd_root):
    work = conversations.parent
    single, speaker_exp = work / "single", work / "speaker"
    check(run([BIN / "audiokit-prep", "fsdd", "--root", fsdd_root, "--out", single,
               "--speakers", FOUR, "--train-index", "10:20", "--valid-index", "5:7",
               "--test-index", "0:1"]))
    check(run([BIN / "audiokit-train", "experiment=sv/fsdd_ecapa", f"exp_dir={speaker_exp}",
               f"paths.train_dir={single}/train", f"paths.valid_dir={single}/valid",
               "model.channels=32", "model.mfa_channels=96", "model.embedding_dim=32",
               "trainer.max_epochs=3", "callbacks.margin.warmup=1", "callbacks.margin.ramp=1",
               "data.speed_classes=[]", *FAST]))  # the 4 voices only: this test is the pipeline
    exp = work / "pipeline"
    proc = recipe(conversations, exp, "diar/fsdd_vad", "--embedding-exp", speaker_exp, "--",
                  "model.hidden_dim=32", "trainer.max_epochs=3", *FAST)
    assert f"speaker experiment: {speaker_exp}" in proc.stdout
    tuned = (exp / "tuned/overrides").read_text().splitlines()
    assert tuned[0].startswith("diarization.clustering=")
    grid = json.loads((exp / "tuned/grid.json").read_text())["settings"]
    assert grid[0]["der"] == min(row["der"] for row in grid)
    zero = {c["collar"]: c for c in der_report(exp)["collars"]}[0.0]
    assert zero["missed"] < 90 and 0 < zero["der"] < 200


@pytest.mark.slow
def test_rttm_for_conversations_with_a_speaker_never_seen(eend_run, fsdd_root, tmp_path):
    exp, _ = eend_run
    single = tmp_path / "single"
    check(run([BIN / "audiokit-prep", "fsdd", "--root", fsdd_root, "--out", single,
               "--speakers", "theo,george", "--train-index", "49:50", "--valid-index",
               "48:49", "--test-index", "0:4"]))
    convs = tmp_path / "convs"
    check(run([BIN / "audiokit-prep", "conversations", single / "test", "--out", convs,
               "-n", "3", "--mode", "turns", "--beta", "0.3"]))
    out = tmp_path / "out"
    check(run([BIN / "audiokit-infer", f"exp_dir={exp}", f"data_dir={convs}",
               f"output_dir={out}", "diarization.median_frames=3"]))
    hyp = read_rttm(out / "rttm")
    assert set(hyp) <= set(read_rttm(convs / "rttm")) and hyp
    proc = check(run([BIN / "audiokit-score", "task=diar", f"ref={convs}/rttm",
                      f"hyp={out}/rttm", "missing=miss"]))
    assert "DER" in proc.stdout
