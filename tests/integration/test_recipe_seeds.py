"""recipes/fsdd/cls/run.sh --seeds "1 2": one exp dir per seed, trained with that seed, and a
RESULTS.md in the exp dir with mean ± std over the seeds (tiny real-audio data, a few steps)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO
from omegaconf import OmegaConf

RUN = REPO / "recipes/fsdd/cls/run.sh"
BIN = Path(sys.executable).parent


def test_seeds_option(tiny_fsdd, tmp_path):
    exp = tmp_path / "exp"
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    proc = subprocess.run(
        [str(RUN), "--stage", "3", "--exp-dir", str(exp), "--seeds", "1 2",
         "--train-set", str(tiny_fsdd / "train"), "--valid-set", str(tiny_fsdd / "valid"),
         "--test-sets", str(tiny_fsdd / "test"), "--", "trainer.max_steps=2",
         "trainer.limit_val_batches=1", "trainer.num_sanity_val_steps=0",
         "data.max_batch_seconds=4", "callbacks.progress=null"],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for seed in (1, 2):
        assert f"=== seed {seed}: {exp}/seed{seed} ===" in proc.stdout
        assert OmegaConf.load(exp / f"seed{seed}" / "config.yaml").seed == seed
        assert (exp / f"seed{seed}" / "scores/test/report.json").is_file()
    text = (exp / "RESULTS.md").read_text()
    assert "over 2 seeds" in text and "| metric | mean ± std | seed 1 | seed 2 |" in text
    assert "| accuracy (%) |" in text
    assert proc.stdout.strip().splitlines()[-1] == f"exp dir: {exp}  results: {exp}/RESULTS.md"
