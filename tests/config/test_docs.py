"""Results live beside their recipe, not in code: no measured figure in a comment or docstring
under audiokit/, and every recipe has a README.md and a committed RESULTS.md (issue 25)."""

from __future__ import annotations

import ast
import io
import os
import re
import subprocess
import tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# What a measurement looks like in prose. Configured values are left alone: integer ranges
# ("5-20 dB SNR", "<= 5 %"), durations of budgets ("8 minutes") and factors of settings
# ("0.9x speed perturbation").
MEASURED = re.compile(r"""(?xi)
    \b\d+\.\d+\s?(%|dB\b)                                   # 5.6 %, 10.79 dB
  | \b\d+(\.\d+)?\s?%\s?(WER|CER|EER|DER|accuracy|test\b)   # 12 % WER
  | \b(WER|CER|EER|DER|minDCF|accuracy|SI-SNRi?|SDRi?|PESQ(-nb)?|STOI|RTF)
        \s?(of\s|:\s?|=\s?|\s)\d+(\.\d+)?\s?(%|dB)?(\s|$|[,;).])   # WER 5.6, RTF 0.008
  | \b\d+(\.\d+)?\s?[x×]\s(faster|slower|the\ steps)       # 2x faster
  | \b\d+\.\d+\s?[x×](?!\s?speed)(\s|$|[,;).])              # 1.25x
  | \b\d+(\.\d+)?\s?(GB|MB)\b(?!/s)                         # 2.43 GB
  | \b\d+\.\d+\s?(min|minutes)\b                            # 6.6 min
  | \b\d+\.\d+\s?%?\s?(->|→)\s?\d+\.\d+\s?(%|dB)            # 19.0 -> 5.6 %
  | \b(peak\ RSS|utterances/s|mixtures/s)\b
  | \.\./shared/                                            # a path outside the repository
""")

# (file, text) pairs that match the pattern but state a setting, not a measurement.
ALLOWED = {
    ("audiokit/metrics/verification.py", "0.1 % to 40 %"),  # a DET plot's axis range
}


def comments(path: Path):
    """(line number, text) of every comment, and every docstring line of a .py file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".yaml":
        for number, line in enumerate(text.splitlines(), 1):
            if "#" in line:
                yield number, line[line.index("#"):]
        return
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                for offset, line in enumerate(doc.splitlines()):
                    yield node.body[0].lineno + offset, line


def figures_in(path: Path) -> list[str]:
    rel = path.relative_to(REPO).as_posix()
    found = []
    for number, text in comments(path):
        match = MEASURED.search(text)
        if match and not any(rel == f and a in text for f, a in ALLOWED):
            found.append(f"{rel}:{number}: '{match.group(0)}' in: {text.strip()}")
    return found


@pytest.mark.parametrize("text", [
    "# 12.1 and 19.0 % WER without it", "# 1.1 dB over 256 at the same steps",
    "# torch.compile: 1.2x the steps in 30 min", "# ~2x faster than the written-out mean",
    "# peaked at 2.43 GB", "# (19.0 -> 5.6 % on those strings)", "# trained in 6.6 min",
    "# ~500 utterances/s training", "# see ../shared/peers/espnet", "# EER 1.33 %",
    "# this setting reaches 93.6 %.",
])
def test_pattern_flags_measurements(text):
    assert MEASURED.search(text)


@pytest.mark.parametrize("text", [
    "# coloured noise at 5-20 dB SNR", "# 2 time masks <= 5 %", "# 80 dB floor",
    "# given 8 minutes", "# room for 0.9x speed perturbation", "# 23->80-dim log-mel",
    "# margin ramped 0 -> 0.2", "# stops training after 10 minutes", "# 0.31 M parameters",
    "# 10 ms hop", "lr: 2.0e-3", "# 1.05 M parameters",
])
def test_pattern_spares_settings(text):
    assert not MEASURED.search(text)


def test_no_measured_figures_in_code_comments():
    files = tracked("audiokit/*.py") + tracked("audiokit/*.yaml")
    found = [line for p in files if p.is_file() for line in figures_in(p)]
    assert not found, ("measured figures belong in recipes/<corpus>/<task>/RESULTS.md, dated, "
                       "with the command:\n" + "\n".join(found))


def tracked(pattern: str) -> list[Path]:
    """Files git tracks (a recipe another change has not committed yet is not checked);
    every matching file on disk outside a git checkout."""
    try:
        out = subprocess.run(["git", "ls-files", "--", pattern], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return sorted(REPO.glob(pattern))
    return sorted(REPO / line for line in out.splitlines())


RECIPES = [p.parent for p in tracked("recipes/*/*/run.sh")]


@pytest.mark.parametrize("recipe", RECIPES, ids=[f"{p.parent.name}/{p.name}" for p in RECIPES])
def test_recipe_has_readme_and_results(recipe):
    for name in ("README.md", "RESULTS.md"):
        assert (recipe / name).is_file(), f"{recipe.relative_to(REPO)} has no {name}"
    readme = (recipe / "README.md").read_text(encoding="utf-8")
    assert "RESULTS.md" in readme, "the recipe README links its RESULTS.md"


def test_readme_links_every_recipe_and_stays_short():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    for recipe in RECIPES:
        rel = recipe.relative_to(REPO).as_posix()
        assert f"({rel}/README.md)" in readme and f"({rel}/RESULTS.md)" in readme, rel
    for link in re.findall(r"\]\(((?:docs|recipes)/[^)#]+)\)", readme):
        if link != "docs/trust.md":  # written by another change (issue 25's trust docs)
            assert (REPO / link).exists(), f"README links {link}, which does not exist"


def test_config_reference_is_current():
    """docs/config.md is generated from audiokit/conf; regenerate it after changing a config."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen", REPO / "docs" / "gen_config_reference.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert (REPO / "docs" / "config.md").read_text(encoding="utf-8") == gen.render(), (
        "docs/config.md is out of date: run python docs/gen_config_reference.py")


def test_cli_reference_covers_every_entry_point():
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    cli = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    missing = [name for name in scripts if f"## `{name}`" not in cli]
    assert not missing, f"docs/cli.md has no section for {missing}"


def test_quick_start_commands_are_make_targets_that_run_the_demo_recipe():
    """The README's two quick-start commands, as written, are real targets (checked with
    ``make -n``, which runs nothing); the demo is recipes/fsdd/cls/run.sh, which
    tests/integration/test_recipe_fsdd_cls.py runs end to end on a tiny slice."""
    text = (REPO / "README.md").read_text(encoding="utf-8").split("## Quick start\n", 1)[1]
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    # As a top-level make (under `make test` a nested make would print directory lines).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    dry = {}
    for command in commands:
        proc = subprocess.run([*command.split(), "-n", "--no-print-directory"], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        dry[command] = proc.stdout.splitlines()
    assert dry["make demo"][-1] == "recipes/fsdd/cls/run.sh"
