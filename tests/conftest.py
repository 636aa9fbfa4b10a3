"""Shared fixtures: the FSDD mirror, and tiny real-audio data dirs cut from it.

Test tiers: a test that needs the FSDD corpus is marked ``corpus`` (explicitly, or by using
the ``fsdd_root`` / ``tiny_fsdd`` fixtures) and is skipped, with the reason, when no mirror is
found; ``pytest -m "not corpus and not slow" tests/unit tests/config`` (make test-fast) runs
without one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
FSDD_ROOT = Path(os.environ.get("FSDD_ROOT", REPO.parent / "shared" / "data" / "fsdd"))
CORPUS_FIXTURES = {"fsdd_root", "tiny_fsdd"}


def pytest_collection_modifyitems(config, items):
    have_corpus = (FSDD_ROOT / "recordings").is_dir()
    skip = pytest.mark.skip(reason=f"needs the FSDD corpus: none at {FSDD_ROOT} (set FSDD_ROOT)")
    for item in items:
        if CORPUS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.corpus)  # so -m "not corpus" deselects it too
        if not have_corpus and item.get_closest_marker("corpus"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fsdd_root() -> Path:
    if not (FSDD_ROOT / "recordings").is_dir():
        pytest.skip(f"FSDD mirror not found at {FSDD_ROOT}: set FSDD_ROOT")
    os.environ["FSDD_ROOT"] = str(FSDD_ROOT)  # recipes run by the tests read it too
    return FSDD_ROOT


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


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: a second intra-op thread only adds synchronisation (slow on a busy
    machine). Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_fsdd(fsdd_root, tmp_path_factory) -> Path:
    """FSDD data dirs from a few recordings per digit and speaker (real audio, seconds to build)."""
    from audiokit.data.corpora import fsdd

    out = tmp_path_factory.mktemp("tiny_fsdd") / "data"
    fsdd.prepare(fsdd_root, out, {"train": (10, 16), "valid": (5, 7), "test": (0, 2)})
    return out


def write_librispeech_tree(root: Path, subsets: tuple[str, ...]) -> dict[str, str]:
    """A tiny tree in the real LibriSpeech layout (SUBSET/SPEAKER/CHAPTER/*.flac and
    SPEAKER-CHAPTER.trans.txt), two speakers with two 16 kHz utterances each per subset;
    returns {utt: text} of train-clean-100."""
    texts = {}
    for subset in subsets:
        for spk, chapter in (("19", "198"), ("26", "495")):
            folder = root / subset / spk / chapter
            folder.mkdir(parents=True)
            lines = []
            for i in range(2):
                utt = f"{spk}-{chapter}-{i:04d}"
                sf.write(folder / f"{utt}.flac", 0.1 * np.random.randn(4000), 16000)
                lines.append(f"{utt} HELLO WORLD {i}")
                if subset == "train-clean-100":
                    texts[utt] = f"HELLO WORLD {i}"
            (folder / f"{spk}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return texts
