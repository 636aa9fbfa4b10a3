"""Shared fixtures: the FSDD mirror, and tiny real-audio data dirs cut from it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def fsdd_root() -> Path:
    root = Path(os.environ.get("FSDD_ROOT", REPO.parent / "shared" / "data" / "fsdd"))
    if not (root / "recordings").is_dir():
        pytest.fail(f"FSDD mirror not found at {root}: set FSDD_ROOT")
    os.environ["FSDD_ROOT"] = str(root)  # recipes run by the tests read it too
    return root


@pytest.fixture(scope="session", autouse=True)
def _offline_env():
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")


def write_wav(path: Path, seconds: float = 0.5, sample_rate: int = 8000, seed: int = 0,
              channels: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    data = (0.1 * rng.standard_normal((int(seconds * sample_rate), channels))).astype("float32")
    sf.write(path, data, sample_rate)
    return path


@pytest.fixture(scope="session")
def tiny_fsdd(fsdd_root, tmp_path_factory) -> Path:
    """FSDD data dirs from a few recordings per digit and speaker (real audio, seconds to build)."""
    from audiokit.data.corpora import fsdd

    out = tmp_path_factory.mktemp("tiny_fsdd") / "data"
    fsdd.prepare(fsdd_root, out, {"train": (10, 16), "valid": (5, 7), "test": (0, 2)})
    return out
