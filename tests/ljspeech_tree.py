"""A tiny tree in the real LJSpeech-1.1 layout (metadata.csv ``id|raw|normalized``, UTF-8,
no header; wavs/<id>.wav at 22,050 Hz mono 16-bit), for the prepare unit tests and the
ljspeech recipe tests. LJSpeech itself is not on this machine."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 22050


def noise(utt: str, seconds: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(zlib.crc32(utt.encode()))
    return 0.1 * rng.standard_normal(int(seconds * RATE))


def rows(n: int) -> list[tuple[str, str, str]]:
    """``n`` metadata rows whose raw and normalized texts differ (numbers, abbreviations)."""
    return [(f"LJ{1 + i // 4:03d}-{1 + i % 4:04d}", f"Mr. Smith read page {i + 1}.",
             f"Mister Smith read page {words(i + 1)}.") for i in range(n)]


def words(n: int) -> str:
    ones = "zero one two three four five six seven eight nine".split()
    return " ".join(ones[int(d)] for d in str(n))


def write_ljspeech_tree(root: Path, metadata: list[tuple[str, str, str]],
                        audio: Callable[[str], np.ndarray] = noise) -> Path:
    """``root/LJSpeech-1.1`` with one wav per row (``audio(id)``, float in [-1, 1]); returns it."""
    corpus = root / "LJSpeech-1.1"
    (corpus / "wavs").mkdir(parents=True)
    for utt, _, _ in metadata:
        sf.write(corpus / "wavs" / f"{utt}.wav", audio(utt), RATE, subtype="PCM_16")
    lines = "".join(f"{utt}|{raw}|{norm}\n" for utt, raw, norm in metadata)
    (corpus / "metadata.csv").write_text(lines, encoding="utf-8")
    return corpus
