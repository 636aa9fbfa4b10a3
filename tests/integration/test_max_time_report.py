"""A run that trainer.max_time cuts short says so: in its log, in train_summary.json and in
the exp dir's RESULTS.md; a run that reaches its epoch bound says nothing of the kind."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from audiokit.cli.train import CONF_DIR, train
from audiokit.utils.results import write_results_md


def tiny_cfg(data: Path, exp: Path, *extra: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("train", overrides=[
            f"paths.data_root={data}", f"exp_dir={exp}", "experiment=cls/fsdd_cnn",
            "data.num_workers=0", "data.max_batch_seconds=4", "callbacks.progress=null",
            "trainer.num_sanity_val_steps=0", "trainer.enable_model_summary=false",
            "logger=none", "callbacks.lr_monitor=null", *extra])


def test_max_time_cut_is_reported(tiny_fsdd, tmp_path, caplog):
    exp = tmp_path / "exp"
    # 1 s of training cannot finish 30 epochs: the guard ends it
    cfg = tiny_cfg(tiny_fsdd, exp, "trainer.max_epochs=30", "trainer.max_time=00:00:00:01")
    with caplog.at_level(logging.WARNING, logger="audiokit.train"):
        train(cfg)
    summary = json.loads((exp / "train_summary.json").read_text())
    line = summary["stopped_by_max_time"]
    assert line.startswith("stopped by max_time (00:00:00:01) at epoch "), line
    assert line.endswith(f" of 30, step {summary['global_step']}"), line
    assert f" at epoch {summary['epochs']} of 30," in line and summary["epochs"] < 30, line
    assert any(line in r.getMessage() for r in caplog.records)
    assert f"**{line}**" in write_results_md(exp).read_text()


def test_max_steps_cut_names_steps(tiny_fsdd, tmp_path):
    exp = tmp_path / "exp"
    cfg = tiny_cfg(tiny_fsdd, exp, "trainer.max_epochs=-1", "trainer.max_steps=100000",
                   "trainer.max_time=00:00:00:01")
    train(cfg)
    summary = json.loads((exp / "train_summary.json").read_text())
    assert summary["stopped_by_max_time"].startswith(
        f"stopped by max_time (00:00:00:01) at step {summary['global_step']} of 100000 (epoch ")


def test_run_that_reaches_its_bound_says_nothing(tiny_fsdd, tmp_path):
    exp = tmp_path / "exp"
    train(tiny_cfg(tiny_fsdd, exp, "trainer.max_steps=3", "trainer.max_time=00:01:00:00"))
    summary = json.loads((exp / "train_summary.json").read_text())
    assert summary["global_step"] == 3 and summary["stopped_by_max_time"] is None
    assert "stopped by max_time" not in write_results_md(exp).read_text()
