"""audiokit-recipe: copy a recipe out of the installed package, for users of the wheel.

    audiokit-recipe list                      # the recipes this audiokit carries
    audiokit-recipe init fsdd/cls my_recipe   # my_recipe/run.sh, README.md, RESULTS.md, scripts/
    my_recipe/run.sh --help

The wheel carries ``recipes/`` and ``scripts/`` under ``audiokit/_shipped/`` (setup.py copies
them in at build time); an editable install reads them from the checkout beside the package.
A copied recipe is self-contained: its shared stage scripts come along into ``DIR/scripts/``
and its ``source`` lines are pointed there.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
RECIPE_FILES = ("run.sh", "README.md", "RESULTS.md")
# How a recipe in the repository finds the shared scripts, and how a copy finds them.
REPO_SCRIPTS = '"$recipe_dir/../../../scripts/'
COPY_SCRIPTS = '"$recipe_dir/scripts/'


class RecipeError(Exception):
    pass


def source_root() -> Path:
    """The folder holding ``recipes/`` and ``scripts/``: inside the wheel, or the checkout."""
    for root in (PACKAGE / "_shipped", PACKAGE.parent):
        if (root / "recipes").is_dir() and (root / "scripts").is_dir():
            return root
    raise RecipeError(f"no recipes found beside {PACKAGE} (neither _shipped/ nor a checkout): "
                      "reinstall audiokit from a wheel or a checkout")


def available() -> list[str]:
    return sorted(p.parent.relative_to(source_root() / "recipes").as_posix()
                  for p in (source_root() / "recipes").glob("*/*/run.sh"))


def init(name: str, dest: Path, force: bool = False) -> Path:
    """Copy recipe ``name`` (``corpus/task``) into ``dest`` with the scripts it sources."""
    root = source_root()
    recipe = root / "recipes" / name
    if not (recipe / "run.sh").is_file():
        raise RecipeError(f"no recipe '{name}'; available: {', '.join(available())}")
    if dest.exists() and any(dest.iterdir()) and not force:
        raise RecipeError(f"{dest} exists and is not empty (use --force to write into it)")
    (dest / "scripts").mkdir(parents=True, exist_ok=True)
    for script in sorted((root / "scripts").glob("*.sh")):
        shutil.copyfile(script, dest / "scripts" / script.name)
    for file in RECIPE_FILES:
        if (recipe / file).is_file():
            text = (recipe / file).read_text(encoding="utf-8")
            (dest / file).write_text(text.replace(REPO_SCRIPTS, COPY_SCRIPTS), encoding="utf-8")
    (dest / "run.sh").chmod(0o755)
    return dest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="audiokit-recipe", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  audiokit-recipe list\n  audiokit-recipe init fsdd/cls my_recipe")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the recipes (corpus/task)")
    p = sub.add_parser("init", help="copy a recipe into a new folder")
    p.add_argument("name", help="corpus/task, e.g. fsdd/cls")
    p.add_argument("dest", type=Path, help="folder to create")
    p.add_argument("--force", action="store_true", help="write into a non-empty folder")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            print("\n".join(available()))
        else:
            dest = init(args.name, args.dest, args.force)
            print(f"audiokit-recipe: {args.name} -> {dest}; run {dest / 'run.sh'} --help")
    except RecipeError as e:
        sys.exit(f"audiokit-recipe: error: {e}")


if __name__ == "__main__":
    main()
