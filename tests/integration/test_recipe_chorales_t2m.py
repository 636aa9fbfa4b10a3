"""recipes/chorales/t2m end to end on two chorales per split: render, CMVN, two tiny judges
trained for one epoch, and the t2m scoring of the real test clips and both chance rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

RUN = REPO / "recipes/chorales/t2m/run.sh"
BIN = Path(sys.executable).parent


@pytest.mark.slow
def test_recipe_end_to_end(tmp_path):
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", OMP_NUM_THREADS="1")
    exp = tmp_path / "exp"
    proc = subprocess.run(
        [str(RUN), "--data-dir", str(tmp_path / "data"), "--exp-dir", str(exp), "--limit", "2",
         "--clip-seconds", "4", "--", "trainer.max_epochs=1", "model.channels=[8,8,8,8]",
         "callbacks.progress=null"],
        env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for n, name in enumerate(["prepare", "render", "global CMVN", "train the judges", "score"], 1):
        assert f"=== stage {n}: {name}" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == f"exp dir: {exp}  results: {exp}/RESULTS.md"
    test_dir = tmp_path / "data/audio/test"
    assert len((test_dir / "text").read_text().splitlines()) == 6  # 2 chorales x 3 clips
    reports = {name: json.loads((exp / f"scores/{name}/report.json").read_text())
               for name in ("real_test", "chance_shuffled", "chance_noise")}
    for r in reports.values():
        assert r["num_utts"] == 6 and r["judges"] == {"timbre": str(exp / "timbre"),
                                                      "tempo": str(exp / "tempo")}
        assert set(r["adherence"]) == {"timbre", "tempo", "key", "mode", "tonic"}
        assert set(r["frechet_distance"]) == {"timbre", "tempo"}
        assert r["fd_reference"] == str(tmp_path / "data/audio/valid")
    # chroma on the real clips finds most keys; a clip under another caption rarely matches
    assert reports["real_test"]["adherence"]["key"] >= 0.5
    assert reports["real_test"]["adherence"]["key"] > reports["chance_shuffled"]["adherence"]["key"]
    results = (exp / "RESULTS.md").read_text()
    assert "| timbre (classifier) |" in results and "## chance_noise" in results
