"""The built wheel works away from the checkout: it is installed into a fresh venv, trains
`experiment=cls/fsdd_cnn` on a tiny data dir from a folder outside the repository, runs
audiokit-infer, composes a user's own config folder and the optional `local` group, and
copies a recipe out with audiokit-recipe (issue 25).

Offline and fast: the venv gets the wheel alone (`--no-deps`), and a .pth file puts the
current environment's site-packages (torch, Lightning, ...) behind it. A .pth file only adds
that folder to sys.path and does not process the .pth files inside it, so the editable
install of the checkout stays out and `import audiokit` finds the wheel.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.corpus]


def run(cmd: list[str], cwd: Path, env: dict, timeout: int = 600) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def build_wheel(tmp: Path) -> Path:
    """`pip wheel` of a copy of the tree git sees (tracked and not ignored), so no build/ or
    egg-info lands in the checkout."""
    src = tmp / "src"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    # Offline with this environment's setuptools; without one (Python 3.12 venvs have none)
    # pip fetches the build backend from the registry.
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q",
         "-w", str(tmp / "dist"), str(src)], cwd=tmp, env=dict(os.environ))
    (wheel,) = (tmp / "dist").glob("audiokit-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """(venv, environment to run its console scripts in)."""
    tmp = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(tmp)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "_audiokit_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         str(wheel)], cwd=tmp, env=env)
    return venv, env


def test_wheel_holds_configs_recipes_and_scripts(installed, tmp_path):
    venv, env = installed
    where = run([str(venv / "bin" / "python"), "-c", "import audiokit; print(audiokit.__file__)"],
                cwd=tmp_path, env=env).strip()
    package = Path(where).parent
    assert package.is_relative_to(venv), f"audiokit imported from {where}, not the wheel"
    assert (package / "conf" / "train.yaml").is_file()
    assert (package / "conf" / "experiment" / "cls" / "fsdd_cnn.yaml").is_file()
    assert (package / "_shipped" / "recipes" / "fsdd" / "cls" / "run.sh").is_file()
    assert (package / "_shipped" / "scripts" / "stages.sh").is_file()
    assert "fsdd/cls" in run(["audiokit-recipe", "list"], cwd=tmp_path, env=env).split()


def test_train_and_infer_from_outside_the_repo(installed, tiny_fsdd, tmp_path):
    venv, env = installed
    package = Path(run([str(venv / "bin" / "python"), "-c",
                        "import audiokit; print(audiokit.__file__)"], cwd=tmp_path, env=env)).parent
    # The optional local group inside the installed package: this machine's settings.
    (package / "conf" / "local").mkdir()
    (package / "conf" / "local" / "default.yaml").write_text("# @package _global_\nseed: 123\n")
    # A user's own config folder with an experiment built on the shipped one.
    user = tmp_path / "myconf" / "experiment" / "mine"
    user.mkdir(parents=True)
    (user / "tiny.yaml").write_text("# @package _global_\ndefaults:\n  - /experiment/cls/fsdd_cnn\n"
                                    "\nname: mine_tiny\n")
    work = tmp_path / "work"
    work.mkdir()
    run(["audiokit-train", f"hydra.searchpath=[file://{tmp_path / 'myconf'}]",
         "experiment=mine/tiny", f"paths.train_dir={tiny_fsdd / 'train'}",
         f"paths.valid_dir={tiny_fsdd / 'valid'}", "exp_dir=exp/tiny", "trainer.max_epochs=1",
         "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "data.num_workers=0",
         "callbacks.progress=null"], cwd=work, env=env)
    exp = work / "exp" / "tiny"
    config = (exp / "config.yaml").read_text()
    assert "name: mine_tiny" in config and "seed: 123" in config
    assert (exp / "model.pt").is_file()
    run(["audiokit-infer", "exp_dir=exp/tiny", f"data_dir={tiny_fsdd / 'test'}",
         "output_dir=out"], cwd=work, env=env)
    hyp = (work / "out" / "utt2label").read_text().split("\n")
    ref = (tiny_fsdd / "test" / "wav.scp").read_text().split("\n")
    assert sorted(line.split()[0] for line in hyp if line) == sorted(
        line.split()[0] for line in ref if line)
    assert not (REPO / "exp" / "tiny").exists() and not (REPO / "build").exists()


def test_recipe_init_copies_a_working_recipe(installed, tiny_fsdd, tmp_path):
    _, env = installed
    out = run(["audiokit-recipe", "init", "fsdd/cls", "my_recipe"], cwd=tmp_path, env=env)
    recipe = tmp_path / "my_recipe"
    assert "my_recipe" in out and os.access(recipe / "run.sh", os.X_OK)
    assert {"README.md", "RESULTS.md"} <= {p.name for p in recipe.iterdir()}
    assert "stages:" in run([str(recipe / "run.sh"), "--help"], cwd=tmp_path, env=env)
    # Stage 1 on given data dirs checks every file with the wheel's audiokit-prep.
    log = run([str(recipe / "run.sh"), "--stage", "1", "--stop-stage", "1", "--exp-dir",
               str(tmp_path / "exp"), "--train-set", str(tiny_fsdd / "train"), "--valid-set",
               str(tiny_fsdd / "valid"), "--test-sets", str(tiny_fsdd / "test")],
              cwd=tmp_path, env=env)
    assert "stage 1" in log
    proc = subprocess.run(["audiokit-recipe", "init", "fsdd/cls", "my_recipe"], cwd=tmp_path,
                          env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "not empty" in proc.stderr
    proc = subprocess.run(["audiokit-recipe", "init", "fsdd/nope", "x"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "available: " in proc.stderr and "fsdd/cls" in proc.stderr


def readme_block(section: str) -> list[str]:
    """The commands of the first ```bash block under a README section."""
    text = (REPO / "README.md").read_text(encoding="utf-8").split(f"## {section}\n", 1)[1]
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_own_data_commands_run_as_written(installed, fsdd_root, tmp_path):
    _, env = installed
    # A folder of the user's audio, the label at the start of each file name.
    words = ["zero", "one", "two"]
    for split, indices in (("train", range(10, 14)), ("valid", range(5, 7))):
        folder = tmp_path / "my_audio" / split
        folder.mkdir(parents=True)
        for digit, word in enumerate(words):
            for i in indices:
                src = fsdd_root / "recordings" / f"{digit}_george_{i}.wav"
                shutil.copy(src, folder / f"{word}_{i}.wav")
    commands = readme_block("Your own data")
    assert len(commands) == 5 and commands[2].startswith("audiokit-train ")
    # As written, but a debug-sized training run.
    commands[2] += (" trainer.max_epochs=1 trainer.limit_train_batches=2 data.num_workers=0"
                    " callbacks.progress=null")
    for command in commands:
        run(["bash", "-c", command], cwd=tmp_path, env=env)
    hyp = (tmp_path / "exp" / "mine" / "infer" / "valid" / "utt2label").read_text().split("\n")
    assert len([line for line in hyp if line]) == len(words) * 2
    assert {line.split()[1] for line in hyp if line} <= set(words)
    assert (tmp_path / "exp" / "mine" / "RESULTS.md").is_file()
