"""RESULTS.md over seeds: mean ± sample standard deviation of each scored set's metrics
(against numpy), each seed's value, a seed that was not scored named and left out, and the
max_time line of a seed the guard cut short."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from audiokit.utils.results import mean_std, write_seeds_results_md


def fake_seed(exp: Path, seed: int, accuracy: float, macro_f1: float, cut: str | None = None):
    d = exp / f"seed{seed}"
    (d / "scores" / "test").mkdir(parents=True)
    (d / "scores" / "test" / "report.json").write_text(json.dumps(
        {"task": "cls", "name": "test", "accuracy": accuracy, "macro_f1": macro_f1}))
    (d / "train_summary.json").write_text(json.dumps(
        {"epochs": 25, "global_step": 1000, "wall_seconds": 120.0, "stopped_by_max_time": cut}))
    return d


def test_mean_std_is_the_sample_standard_deviation():
    values = [99.6, 98.8, 99.2]
    mean, std = mean_std(values)
    assert np.isclose(mean, np.mean(values)) and np.isclose(std, np.std(values, ddof=1))
    assert mean_std([5.0]) == (5.0, 0.0)


def test_seeds_table(tmp_path):
    exp = tmp_path / "fsdd_cnn"
    dirs = [fake_seed(exp, 42, 0.996, 0.995), fake_seed(exp, 43, 0.988, 0.987),
            fake_seed(exp, 44, 0.992, 0.990, cut="stopped by max_time (00:01:00:00) at epoch 14 of 25, step 560")]
    missing = exp / "seed45"
    missing.mkdir()
    text = write_seeds_results_md(exp, [*dirs, missing]).read_text()
    acc = [99.6, 98.8, 99.2]
    row = (f"| accuracy (%) | {np.mean(acc):.2f} ± {np.std(acc, ddof=1):.2f} | "
           "99.60 | 98.80 | 99.20 |")
    assert "| metric | mean ± std | seed 42 | seed 43 | seed 44 |" in text
    assert row in text and "| macro-F1 (%) | 99.07 ± 0.40 |" in text
    assert "Not scored (left out of the means): seed 45." in text
    assert "- seed 44: 25 epoch(s), 1000 steps, 2.0 min; **stopped by max_time (00:01:00:00) " \
           "at epoch 14 of 25, step 560**" in text
