"""Recipe options (issue 25 item 8): --stage/--stop-stage take whole numbers within the
recipe's stages, start <= stop, a flag without its value is named; no 'results:' line points
at a file that does not exist."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import REPO

RECIPE = REPO / "recipes" / "fsdd" / "cls" / "run.sh"  # 5 stages


def run(script: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True,
                          timeout=60, cwd=script.parent)


@pytest.mark.parametrize(("args", "expected"), [
    (["--stage", "abc", "--stop-stage", "1"], "--stage 'abc': must be a whole number from 1 to 5"),
    (["--stage", "9"], "--stage '9': must be a whole number from 1 to 5"),
    (["--stop-stage", "0"], "--stop-stage '0': must be a whole number from 1 to 5"),
    (["--stage", "1.5"], "--stage '1.5': must be a whole number"),
    (["--stage", "5", "--stop-stage", "2"], "--stage 5 comes after --stop-stage 2"),
    (["--stage"], "option --stage needs a value"),
    (["--stage", "--stop-stage", "2"], "option --stage needs a value"),
    (["--exp-dir"], "option --exp-dir needs a value"),
])
def test_bad_stage_options_fail_with_one_line(args, expected):
    result = run(RECIPE, *args)
    assert result.returncode == 2, result
    assert expected in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "unbound variable" not in result.stderr and "integer expression" not in result.stderr
    assert "===" not in result.stdout  # no stage ran


def _mini_recipe(tmp_path: Path, score: bool) -> Path:
    script = tmp_path / "run.sh"
    script.write_text(f"""#!/usr/bin/env bash
RECIPE_STAGES=("write something" "score")
source "{REPO}/scripts/stages.sh"
parse_options "$@"
exp_dir="{tmp_path}/exp"
stage_one() {{ mkdir -p "$exp_dir"; }}
stage_two() {{ {'echo ok > "$exp_dir/RESULTS.md"' if score else 'true'}; }}
run_stage 1 stage_one
run_stage 2 stage_two
recipe_summary
""")
    return script


def test_results_line_only_when_the_file_exists(tmp_path):
    script = _mini_recipe(tmp_path, score=True)
    result = run(script, "--stop-stage", "1")
    assert result.returncode == 0, result.stderr
    assert "results:" not in result.stdout and "no RESULTS.md yet" in result.stdout
    result = run(script)
    assert f"results: {tmp_path}/exp/RESULTS.md" in result.stdout
    assert "=== stage 2" in result.stdout  # the default stop stage is the last one


def test_publish_appends_the_results_to_the_recipes_own_file(tmp_path):
    script = _mini_recipe(tmp_path, score=True)
    (tmp_path / "RESULTS.md").write_text("# recipe results\n\nearlier rows\n")
    result = run(script, "--publish")
    assert result.returncode == 0, result.stderr
    published = (tmp_path / "RESULTS.md").read_text()
    assert published.startswith("# recipe results\n\nearlier rows\n")  # history kept
    assert f": {tmp_path}/exp (run.sh --publish)\n\nok\n" in published
    assert "published" in result.stdout
    unscored = tmp_path / "unscored"
    unscored.mkdir()
    result = run(_mini_recipe(unscored, score=False), "--publish")  # said, not faked
    assert result.returncode == 0 and "--publish: no RESULTS.md" in result.stderr
    assert not (unscored / "RESULTS.md").exists()
