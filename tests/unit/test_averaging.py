"""Checkpoint averaging: the exact mean, integer buffers, errors, and best-N selection from the
scores Lightning's ModelCheckpoint stores in each checkpoint."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from torch.utils.data import DataLoader, TensorDataset

from audiokit.cli.train import CONF_DIR, check_averaging, export_model
from audiokit.utils.averaging import average_checkpoints, best_checkpoints


def save_state(path: Path, state: dict, **extra) -> Path:
    torch.save({"state_dict": state, "global_step": 0, **extra}, path)
    return path


def test_average_is_the_mean_and_int_buffers_come_from_the_last(tmp_path):
    paths = [
        save_state(tmp_path / "a.ckpt", {"w": torch.tensor([1.0, 2.0, 3.0]),
                                         "h": torch.tensor([60000.0, 1.0], dtype=torch.float16),
                                         "n": torch.tensor(10), "flag": torch.tensor(True)}),
        save_state(tmp_path / "b.ckpt", {"w": torch.tensor([4.0, 5.0, 6.0]),
                                         "h": torch.tensor([60000.0, 2.0], dtype=torch.float16),
                                         "n": torch.tensor(20), "flag": torch.tensor(True)}),
        save_state(tmp_path / "c.ckpt", {"w": torch.tensor([7.0, 8.0, 10.0]),
                                         "h": torch.tensor([60000.0, 4.0], dtype=torch.float16),
                                         "n": torch.tensor(35), "flag": torch.tensor(False)}),
    ]
    avg = average_checkpoints(paths)
    assert avg["w"].dtype == torch.float32
    assert torch.equal(avg["w"], torch.tensor([4.0, 5.0, 19.0 / 3.0]))
    # the fp16 sum (180000) would overflow to inf: summed in float64, cast back once
    assert avg["h"].dtype == torch.float16
    assert torch.equal(avg["h"], torch.tensor([60000.0, 7.0 / 3.0], dtype=torch.float16))
    assert avg["n"].dtype == torch.int64 and avg["n"].item() == 35  # a counter: not averaged
    assert avg["flag"].item() is False
    one = average_checkpoints(paths[:1])
    assert torch.equal(one["w"], torch.tensor([1.0, 2.0, 3.0]))


def test_mismatches_name_the_file(tmp_path):
    a = save_state(tmp_path / "a.ckpt", {"w": torch.zeros(3), "b": torch.zeros(1)})
    b = save_state(tmp_path / "b.ckpt", {"w": torch.zeros(3), "c": torch.zeros(1)})
    c = save_state(tmp_path / "c.ckpt", {"w": torch.zeros(4), "b": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"b\.ckpt: parameters differ from .*a\.ckpt "
                                         r"\(extra: \['c'\], missing: \['b'\]\)"):
        average_checkpoints([a, b])
    with pytest.raises(ValueError, match=r"c\.ckpt: 'w' is torch.float32 \(4,\), but "
                                         r"torch.float32 \(3,\) in .*a\.ckpt"):
        average_checkpoints([a, c])
    with pytest.raises(ValueError, match="no checkpoints"):
        average_checkpoints([])


def fake_lightning_ckpt(path: Path, score: float | None, step: int, monitor: str = "valid/acc"):
    """What ModelCheckpoint stores: its own file in best_k_models (saved elsewhere: the exp dir
    was moved), plus the state of a second, unmonitored checkpoint callback."""
    best_k = {"/old/exp/checkpoints/other.ckpt": torch.tensor(0.123)}
    if score is not None:
        best_k[f"/old/exp/checkpoints/{path.name}"] = torch.tensor(score)
    callbacks = {
        f"ModelCheckpoint{{'monitor': '{monitor}', 'mode': 'max'}}": {
            "monitor": monitor, "best_k_models": best_k, "current_score": torch.tensor(0.0)},
        "ModelCheckpoint{'monitor': None, 'mode': 'min'}": {
            "monitor": None, "best_k_models": {}, "current_score": None},
    }
    torch.save({"state_dict": {"w": torch.tensor([float(step)])}, "global_step": step,
                "callbacks": callbacks}, path)


@pytest.fixture
def ckpt_dir(tmp_path) -> Path:
    d = tmp_path / "checkpoints"
    d.mkdir()
    for name, score, step in [("e1.ckpt", 0.50, 100), ("e2.ckpt", 0.90, 200),
                              ("e3.ckpt", 0.70, 300), ("e4.ckpt", 0.90, 400),
                              ("e5.ckpt", 0.20, 500)]:
        fake_lightning_ckpt(d / name, score, step)
    # unranked files, even with a recorded score, are never chosen
    fake_lightning_ckpt(d / "last.ckpt", 0.99, 600)
    fake_lightning_ckpt(d / "latest.ckpt", 0.99, 650)
    fake_lightning_ckpt(d / "stray.ckpt", None, 700)  # no score for this file
    return d


def names(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_best_n_max_and_min(ckpt_dir, caplog):
    # equal scores (e2, e4): the later step first
    assert names(best_checkpoints(ckpt_dir, 3, "valid/acc", "max")) == ["e4.ckpt", "e2.ckpt", "e3.ckpt"]
    assert names(best_checkpoints(ckpt_dir, 2, "valid/acc", "min")) == ["e5.ckpt", "e1.ckpt"]
    assert "stray.ckpt: no 'valid/acc' score" in caplog.text


def test_fewer_than_n_warns_and_returns_all(ckpt_dir, caplog):
    with caplog.at_level(logging.WARNING):
        got = best_checkpoints(ckpt_dir, 7, "valid/acc", "max")
    assert names(got) == ["e4.ckpt", "e2.ckpt", "e3.ckpt", "e1.ckpt", "e5.ckpt"]
    assert "only 5 checkpoint(s) scored by 'valid/acc', fewer than the 7 asked for" in caplog.text


def test_no_scored_checkpoint_is_an_error(ckpt_dir):
    with pytest.raises(FileNotFoundError, match=r"checkpoints: no checkpoint with a recorded "
                                                r"'valid/loss' score"):
        best_checkpoints(ckpt_dir, 2, "valid/loss", "min")
    with pytest.raises(ValueError, match="mode must be 'max' or 'min'"):
        best_checkpoints(ckpt_dir, 2, "valid/acc", "maximum")


class ScoredModule(pl.LightningModule):
    """Logs a fixed validation score per epoch, so the best epochs are known in advance."""

    SCORES = [0.3, 0.8, 0.5, 0.9, 0.6]

    def __init__(self):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(2, 1)
        self.bn = torch.nn.BatchNorm1d(1)

    def training_step(self, batch, batch_idx):
        return self.bn(self.layer(batch[0])).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        self.log("valid/acc", self.SCORES[self.current_epoch])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_run_and_export_average(tmp_path):
    loader = DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=4)
    ckpt = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "checkpoints", monitor="valid/acc",
                                        mode="max", save_top_k=3, save_last=True,
                                        filename="epoch{epoch:03d}", auto_insert_metric_name=False)
    trainer = pl.Trainer(max_epochs=5, accelerator="cpu", logger=False, callbacks=[ckpt],
                         enable_progress_bar=False, enable_model_summary=False)
    task = ScoredModule()
    trainer.fit(task, train_dataloaders=loader, val_dataloaders=loader)
    best = best_checkpoints(tmp_path / "checkpoints", 3, "valid/acc", "max")
    assert names(best) == ["epoch003.ckpt", "epoch001.ckpt", "epoch004.ckpt"]

    export_model(trainer, task, tmp_path, average=3)
    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    assert saved["averaged"] == [str(p) for p in best]
    states = [torch.load(p, weights_only=True)["state_dict"] for p in best]
    expected = torch.stack([s["layer.weight"] for s in states]).mean(0)
    torch.testing.assert_close(saved["state_dict"]["layer.weight"], expected)
    assert not torch.equal(saved["state_dict"]["layer.weight"], states[0]["layer.weight"])
    assert torch.equal(saved["state_dict"]["bn.num_batches_tracked"],
                       states[-1]["bn.num_batches_tracked"])

    export_model(trainer, task, tmp_path)  # the default: the best checkpoint alone
    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    assert saved["averaged"] == [] and Path(saved["best_checkpoint"]).name == "epoch003.ckpt"
    assert torch.equal(saved["state_dict"]["layer.weight"], states[0]["layer.weight"])


def compose_train(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("train", overrides=overrides)


def test_startup_check_against_save_top_k():
    assert compose_train([]).average_checkpoints == 1
    check_averaging(compose_train(["average_checkpoints=3"]))  # save_top_k is 3
    with pytest.raises(SystemExit, match=r"average_checkpoints=4 but callbacks.checkpoint."
                                         r"save_top_k=3 keeps only 3; set callbacks.checkpoint."
                                         r"save_top_k=4 or more"):
        check_averaging(compose_train(["average_checkpoints=4"]))
    check_averaging(compose_train(["average_checkpoints=10", "callbacks.checkpoint.save_top_k=-1"]))
    with pytest.raises(SystemExit, match="needs the callbacks.checkpoint ModelCheckpoint"):
        check_averaging(compose_train(["average_checkpoints=2", "callbacks.checkpoint=null"]))
    with pytest.raises(SystemExit, match="must be 1 or more"):
        check_averaging(compose_train(["average_checkpoints=0"]))
