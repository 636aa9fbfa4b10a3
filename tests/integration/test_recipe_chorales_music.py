"""recipes/chorales/music end to end on a handful of chorales and a few training steps, then
inference on MIDI the recipe never saw (NLL and continuations of prompts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

RUN = REPO / "recipes/chorales/music/run.sh"
BIN = Path(sys.executable).parent


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


TINY = ["--limit", "3", "--num-samples", "2", "--ngram-orders", "2,3", "--",
        "trainer.max_steps=4", "trainer.val_check_interval=2", "data.max_len=64",
        "data.batch_size=4", "model.d_model=32", "model.num_heads=2", "model.ffn_dim=64",
        "model.num_layers=1", "scheduler.warmup_steps=2", "callbacks.progress=null"]


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("chorales")
    exp = work / "exp"
    proc = run([str(RUN), "--data-dir", str(work / "data"), "--exp-dir", str(exp),
                "--ngram-dir", str(work / "ngram"), *TINY])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return work, exp, proc


@pytest.mark.slow
def test_recipe_end_to_end(recipe_run):
    work, exp, proc = recipe_run
    for n, name in enumerate(["prepare", "tokens", "train", "sample", "score", "n-gram"], 1):
        assert f"=== stage {n}: {name}" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == f"exp dir: {exp}  results: {exp}/RESULTS.md"
    for split in ("train", "valid", "test"):
        assert len((work / "data" / split / "events").read_text().splitlines()) == 3
    report = json.loads((exp / "scores/test/report.json").read_text())
    assert report["num_utts"] == 3 and 0 < report["nll_per_token"] < 6.0  # ln(275) = 5.6
    assert report["samples"]["generated"]["num_pieces"] + report["samples"]["empty_samples"] == 2
    assert len((exp / "infer/test/midi.scp").read_text().splitlines()) == 2
    ngram = json.loads((work / "ngram/scores/test/report.json").read_text())
    assert ngram["nll_info"]["order"] in (2, 3)
    results = (exp / "RESULTS.md").read_text()
    assert "NLL per token" in results and "| key_consistency |" in results


@pytest.mark.slow
def test_infer_on_unseen_midi_and_prompts(recipe_run, tmp_path):
    work, exp, _ = recipe_run
    # a data dir of MIDI only (no events): read on the model's grid
    unseen = tmp_path / "unseen"
    unseen.mkdir()
    test_midi = (work / "data/test/midi.scp").read_text()
    (unseen / "midi.scp").write_text(test_midi.splitlines()[0] + "\n")
    out = tmp_path / "out"
    proc = run(["audiokit-infer", f"exp_dir={exp}", f"data_dir={unseen}", f"output_dir={out}",
                "music.num_samples=1", "music.prompt_events=8", "music.max_events=20"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len((out / "nll").read_text().splitlines()) == 1
    (sid, events), = [line.split(maxsplit=1) for line in (out / "events").read_text().splitlines()]
    first = (work / "data/test/events").read_text().splitlines()[0].split()[1:9]
    assert sid.endswith("_cont") and events.split()[:8] == first
    proc = run(["audiokit-infer", f"exp_dir={exp}", f"data_dir={unseen}", f"output_dir={out}",
                "music.num_samples=1", "music.max_events=5000"])
    assert proc.returncode != 0 and "context is 64 tokens" in proc.stderr + proc.stdout
