"""A user's own config folder (hydra.searchpath) and the optional `local` group compose with
the package's tree, and the up-front override checks know the user's options too."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from audiokit.utils.config_check import ConfigKeyError, check_overrides, search_dirs

CONF_DIR = str(Path(__file__).resolve().parents[2] / "audiokit" / "conf")


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    (tmp_path / "experiment" / "mine").mkdir(parents=True)
    (tmp_path / "experiment" / "mine" / "tiny.yaml").write_text(
        "# @package _global_\ndefaults:\n  - /experiment/cls/fsdd_cnn\n\nname: tiny\n"
        "trainer:\n  max_epochs: 2\n")
    return tmp_path


def _compose(overrides: list[str]):
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            return compose("train", overrides=overrides)
    finally:
        GlobalHydra.instance().clear()


def test_without_local_the_defaults_stand():
    cfg = _compose(["experiment=cls/fsdd_cnn"])
    assert cfg.seed == 42 and cfg.name == "fsdd_cnn"


def test_user_experiment_and_local_group_from_searchpath(user_dir: Path):
    (user_dir / "local").mkdir()
    # The local group comes after the experiment: this machine's settings win over it.
    (user_dir / "local" / "default.yaml").write_text(
        "# @package _global_\nseed: 7\ntrainer:\n  max_epochs: 3\n")
    searchpath = f"hydra.searchpath=[file://{user_dir}]"
    cfg = _compose([searchpath, "experiment=mine/tiny"])
    assert (cfg.name, cfg.seed, cfg.trainer.max_epochs) == ("tiny", 7, 3)
    assert cfg.model._target_.endswith("ResNetClassifier")  # the base experiment came along
    # the command line still wins over the local group
    assert _compose([searchpath, "experiment=mine/tiny", "seed=1"]).seed == 1


def test_override_checks_see_the_user_folder(user_dir: Path):
    searchpath = f"hydra.searchpath=[file://{user_dir}]"
    assert search_dirs([searchpath]) == [str(user_dir)]
    cfg = check_overrides(CONF_DIR, "train", [searchpath, "experiment=mine/tiny"])
    assert cfg is not None and cfg.name == "tiny"
    with pytest.raises(ConfigKeyError, match="did you mean 'mine/tiny'"):
        check_overrides(CONF_DIR, "train", [searchpath, "experiment=mine/tyni"])
    with pytest.raises(ConfigKeyError, match="trainer.max_epochs takes a whole number"):
        check_overrides(CONF_DIR, "train", [searchpath, "experiment=mine/tiny",
                                            "trainer.max_epochs=abc"])
