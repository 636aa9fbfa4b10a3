"""What produced an experiment: argv, git SHA, package versions, device. Saved in exp dirs
and printed in RESULTS.md so every figure can be traced and reproduced."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

PACKAGES = ("audiokit", "torch", "torchaudio", "lightning", "hydra-core", "omegaconf", "soundfile",
            "numpy", "scikit-learn")
REPO_DIR = Path(__file__).resolve().parents[2]


def git_sha() -> str:
    """The checkout's commit, suffixed ``-dirty`` when files differ from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO_DIR), *args], capture_output=True,
                              text=True, check=True).stdout.strip()
    try:
        sha = git("rev-parse", "HEAD")
        return sha + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def device_description() -> str:
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {cpu}, {torch.get_num_threads()} threads"


def collect(argv: list[str] | None = None) -> dict:
    return {
        "argv": list(sys.argv if argv is None else argv),
        "cwd": str(Path.cwd()),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git_sha": git_sha(),
        "versions": package_versions(),
        "device": device_description(),
        "host": platform.node(),
    }


def write(path: str | Path, info: dict | None = None) -> dict:
    info = info or collect()
    Path(path).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info
