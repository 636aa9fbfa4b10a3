"""recipes/fsdd/hubert end to end on a tiny real FSDD slice: MFCC k-means, one short HuBERT
pretraining, CTC fine-tuning from it (encoder loaded from the pretraining's model.pt), greedy
decoding and scoring; iteration 2 and the scratch control are switched off to stay fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

RUN = REPO / "recipes/fsdd/hubert/run.sh"
BIN = Path(sys.executable).parent
TINY = ["trainer.max_epochs=1", "data.num_workers=0", "callbacks.progress=null"]


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", OMP_NUM_THREADS="1")
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_recipe_pretrains_then_fine_tunes_ctc(tiny_fsdd, fsdd_root, tmp_path):
    strings = tmp_path / "strings"
    proc = run([str(BIN / "audiokit-prep"), "fsdd-strings", "--root", str(fsdd_root), "--out",
                str(strings), "--speakers", "george,jackson", "--train-count", "10",
                "--valid-count", "2", "--test-count", "3"])
    assert proc.returncode == 0, proc.stderr
    exp = tmp_path / "exp"
    proc = run([str(RUN), "--exp-dir", str(exp), "--train-set", str(strings / "train"),
                "--valid-set", str(strings / "valid"), "--test-sets", str(strings / "test"),
                "--pretrain-sets", f"{tiny_fsdd}/train {tiny_fsdd}/valid", "--clusters", "10",
                "--iterations", "1", "--scratch", "false",
                "--iter1-overrides", " ".join(TINY), "--", *TINY])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for n, name in enumerate(["prepare", "k-means targets of MFCC", "pretrain HuBERT iteration 1",
                              "k-means targets of a layer", "pretrain HuBERT iteration 2",
                              "token list", "decode", "score"], 1):
        assert f"=== stage {n}: {name}" in proc.stdout
    assert proc.stdout.count("--iterations 1: skipped") == 2
    # every pretraining utterance (train and valid) has one MFCC label per 10 ms frame
    pretrain = (exp / "data/pretrain_all/wav.scp").read_text().splitlines()
    targets = (exp / "kmeans1/targets").read_text().splitlines()
    assert len(targets) == len(pretrain) == 400
    assert {int(x) for line in targets for x in line.split()[1:]} <= set(range(10))
    assert (exp / "iter1/model.pt").is_file() and (exp / "finetune/model.pt").is_file()
    assert "imported" in proc.stdout + proc.stderr   # the CTC encoder loaded the pretraining
    hyps = dict((line.split(" ", 1) + [""])[:2] for line in
                (exp / "finetune/infer/test/text").read_text().splitlines())
    assert sorted(hyps) == sorted((strings / "test/text").read_text().split("\n")[i].split()[0]
                                  for i in range(6))
    words = {w for h in hyps.values() for w in h.split()}
    assert words <= set("zero one two three four five six seven eight nine".split())
    report = json.loads((exp / "finetune/scores/test/report.json").read_text())
    assert report["wer"] >= 0.0   # one epoch: no accuracy to expect, only a scored decode
    assert "# finetune" in (exp / "RESULTS.md").read_text()


@pytest.mark.parametrize("bad", [["--iterations", "3"], ["--scratch", "maybe"]])
def test_recipe_refuses_bad_options(bad, tmp_path):
    proc = run([str(RUN), "--exp-dir", str(tmp_path), *bad])
    assert proc.returncode == 2 and bad[0] in proc.stderr
