"""recipes/fsdd/sv end to end on a small slice of real FSDD audio, and embeddings and scores
for a data dir with a speaker the recipe never saw."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO

from audiokit.data.datadir import DataDir
from audiokit.inference.trials import read_embeddings, read_scores, read_trials

BIN = Path(sys.executable).parent
FOUR = "george,jackson,nicolas,yweweler"   # theo is held out


def run(cmd: list) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    return subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True,
                          timeout=1200)


@pytest.fixture(scope="module")
def sv_run(tmp_path_factory, fsdd_root):
    work = tmp_path_factory.mktemp("sv")
    data, exp = work / "data", work / "exp"
    for args in (["fsdd", "--root", fsdd_root, "--out", data, "--speakers", FOUR,
                  "--train-index", "10:25", "--valid-index", "5:7", "--test-index", "0:5"],
                 ["trials", data / "test", "-n", "300"]):
        proc = run([BIN / "audiokit-prep", *args])
        assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run([REPO / "recipes/fsdd/sv/run.sh", "--exp-dir", exp, "--train-set", data / "train",
                "--valid-set", data / "valid", "--test-sets", data / "test", "--",
                "model.channels=64", "model.mfa_channels=192", "model.embedding_dim=64",
                "trainer.max_epochs=2", "trainer.max_time=null", "callbacks.margin.warmup=1",
                "callbacks.margin.ramp=1", "data.num_workers=1", "callbacks.progress=null"])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return work, exp, proc


@pytest.mark.slow
def test_sv_recipe_end_to_end(sv_run):
    _, exp, proc = sv_run
    for n, name in enumerate(["prepare data dirs", "global CMVN", "train the embedding",
                              "embed the test sets", "score"], 1):
        assert f"=== stage {n}: {name}" in proc.stdout
    for f in ("cmvn.json", "model.pt", "infer/test/embeddings.npz", "infer/test/scores",
              "scores/test/det.png", "RESULTS.md"):
        assert (exp / f).exists(), f
    report = json.loads((exp / "scores/test/report.json").read_text())
    # 600 recordings of 4 speakers, each also at 4 speeds (20 training speakers), two epochs of
    # a small ECAPA: clearly better than chance
    assert report["num_trials"] == 300 and report["eer"] < 0.25, report
    labels = torch.load(exp / "model.pt", weights_only=True)["hparams"]["labels"]
    assert len(labels) == 20 and "sp0.8-george" in labels
    assert "| EER |" in (exp / "RESULTS.md").read_text()


@pytest.mark.slow
def test_embeddings_for_a_speaker_the_recipe_never_saw(sv_run, fsdd_root, tmp_path):
    _, exp, _ = sv_run
    data = tmp_path / "theo"
    for args in (["fsdd", "--root", fsdd_root, "--out", data, "--speakers", "theo,george",
                  "--train-index", "49:50", "--valid-index", "48:49", "--test-index", "0:3"],
                 ["trials", data / "test", "-n", "20"]):
        proc = run([BIN / "audiokit-prep", *args])
        assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "out"
    proc = run([BIN / "audiokit-infer", f"exp_dir={exp}", f"data_dir={data}/test",
                f"output_dir={out}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = (out / "scores").read_text().splitlines()
    assert len(lines) == 20
    proc = run([BIN / "audiokit-score", "task=sv", f"ref={data}/test/trials", f"hyp={out}/scores"])
    assert proc.returncode == 0 and "EER" in proc.stdout, proc.stderr[-3000:]


@pytest.mark.slow
def test_heldout_speakers_option_scores_trials_involving_the_unseen_voice(sv_run, tmp_path):
    _, trained, _ = sv_run
    exp, data = tmp_path / "exp", tmp_path / "data"
    shutil.copytree(trained, exp)  # the module's run stays as it was
    recipe = [REPO / "recipes/fsdd/sv/run.sh", "--data-dir", data, "--exp-dir", exp,
              "--num-trials", "100"]
    for bad, says in ((["--heldout-speakers", "theo"], "needs --speakers"),
                      (["--speakers", "george,theo", "--heldout-speakers", "theo"],
                       "theo in both --speakers and --heldout-speakers")):
        proc = run([*recipe, *bad, "--stop-stage", "1"])
        assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    recipe += ["--speakers", "george,jackson", "--heldout-speakers", "theo"]
    proc = run([*recipe, "--stop-stage", "1"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(set(DataDir.load(data / "train").utt2spk.values())) == ["george", "jackson"]
    assert not (data / ".heldout").exists()
    heldout = DataDir.load(data / "test_heldout")
    assert len(heldout) == 150 and {int(u.rsplit("_", 1)[1]) for u in heldout.utt_ids} == set(range(5))
    trials = read_trials(data / "test_heldout/trials")
    assert len(trials) == 100 and sum(t.target for t in trials) == 50
    for t in trials:
        spk = (heldout.utt2spk[t.enroll], heldout.utt2spk[t.test])
        assert (spk == ("theo", "theo")) if t.target else (spk[0] == "theo" != spk[1])
    proc = run([*recipe, "--stage", "4"])  # embed and score with the module's tiny model
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((exp / "scores/test_heldout/report.json").read_text())
    assert report["num_trials"] == 100 and 0 <= report["eer"] <= 1
    # AS-norm against the training speakers by default: scores are not the plain cosines
    emb = read_embeddings(exp / "infer/test_heldout/embeddings.npz")
    pairs, scores = read_scores(exp / "infer/test_heldout/scores")
    cos = [emb[e] @ emb[t] / np.linalg.norm(emb[e]) / np.linalg.norm(emb[t]) for e, t in pairs]
    assert np.abs(scores - np.array(cos)).min() > 1e-3
