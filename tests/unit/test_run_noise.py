"""A run says what matters (issue 25 item 11): no 'starting fresh' warning on a fresh exp dir,
no Lightning advert, no v_num in the progress bar, no FLOPs: 0 table, and fast_dev_run is named as the reason
no checkpoint was exported."""

from __future__ import annotations

import logging

import lightning.pytorch as pl

from audiokit.cli import train


def test_fresh_debug_run_is_quiet(tiny_fsdd, tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.setattr("sys.argv", [
        "audiokit-train", "experiment=cls/fsdd_cnn", f"paths.data_root={tiny_fsdd}",
        f"exp_dir={tmp_path}/exp", "debug=fast_dev_run", "data.num_workers=0"])
    with caplog.at_level(logging.INFO):
        train.main()
    out = capsys.readouterr()
    text = out.out + out.err + caplog.text
    assert "starting fresh" not in text and "litlogger" not in text and "v_num" not in text
    assert "FLOPs" not in text and "ClassificationTask: 0." in text  # the one-line summary
    assert "fast_dev_run writes no checkpoints: exporting the final weights" in text
    assert (tmp_path / "exp" / "model.pt").is_file()


def test_progress_bar_drops_v_num():
    bar = pl.callbacks.TQDMProgressBar()
    bar.get_metrics = lambda trainer, module: {"v_num": 0, "loss": 1.0}
    train._without_version(bar)
    assert bar.get_metrics(None, None) == {"loss": 1.0}


def test_lightning_tips_are_filtered():
    record = logging.LogRecord("lightning.pytorch.utilities.rank_zero", logging.INFO, "", 0,
                               "💡 Tip: For seamless cloud logging ... litlogger", None, None)
    assert not train._NoAdverts().filter(record)
    record.msg = "GPU available: False"
    assert train._NoAdverts().filter(record)
