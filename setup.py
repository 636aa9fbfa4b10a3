"""Build hook: the wheel carries the recipes and their shared scripts as package data.

Everything else is in pyproject.toml. ``recipes/`` and ``scripts/`` stay at the top of the
repository (where recipes are run from a checkout); building a wheel copies their tracked
kinds of files into ``audiokit/_shipped/`` so ``audiokit-recipe init`` finds them after a pip
install. Recipe outputs (data/, exp/, downloads/) are never copied.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = ("recipes/*/*/run.sh", "recipes/*/*/README.md", "recipes/*/*/RESULTS.md", "scripts/*.sh")


class BuildPyWithRecipes(build_py):
    def run(self):
        super().run()
        for pattern in SHIPPED:
            for src in sorted(HERE.glob(pattern)):
                dst = Path(self.build_lib, "audiokit", "_shipped", src.relative_to(HERE))
                dst.parent.mkdir(parents=True, exist_ok=True)
                self.copy_file(str(src), str(dst))


setup(cmdclass={"build_py": BuildPyWithRecipes})
