"""audiokit-recipe: list the recipes, copy one out with the shared scripts it sources, and
refuse a non-empty folder or an unknown recipe with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from audiokit.cli import recipe


def test_list_names_every_recipe_folder():
    names = recipe.available()
    assert "fsdd/cls" in names and "librispeech/asr" in names
    assert all((recipe.source_root() / "recipes" / n / "run.sh").is_file() for n in names)


def test_init_copies_a_self_contained_recipe(tmp_path):
    dest = recipe.init("fsdd/asr", tmp_path / "r")
    run_sh = (dest / "run.sh").read_text()
    assert '"$recipe_dir/scripts/stages.sh"' in run_sh and "../../../scripts" not in run_sh
    assert {"asr_stages.sh", "stages.sh"} <= {p.name for p in (dest / "scripts").iterdir()}
    assert (dest / "README.md").is_file() and (dest / "RESULTS.md").is_file()
    # The copy runs on its own: --help lists the stages read from its scripts/.
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    out = subprocess.run(["bash", str(dest / "run.sh"), "--help"], capture_output=True,
                         text=True, check=True, env=env).stdout
    assert "stages:" in out and "decode the test sets" in out


def test_init_refuses_a_non_empty_folder_and_an_unknown_recipe(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "mine.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="not empty"):
        recipe.main(["init", "fsdd/cls", str(tmp_path / "r")])
    with pytest.raises(SystemExit, match=r"no recipe 'fsdd/nope'; available: .*fsdd/cls"):
        recipe.main(["init", "fsdd/nope", str(tmp_path / "x")])
    recipe.main(["init", "fsdd/cls", str(tmp_path / "r"), "--force"])
    assert (tmp_path / "r" / "mine.txt").read_text() == "keep me"
    assert (tmp_path / "r" / "run.sh").is_file()
