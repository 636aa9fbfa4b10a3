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


def write_fsdd_ljspeech_tree(root: Path, fsdd_root: Path, n: int, speaker: str = "jackson") -> Path:
    """``n`` clips of real speech in the LJSpeech-1.1 layout: two FSDD digits of one speaker
    joined and resampled to 22,050 Hz; raw text "7 3.", normalized "seven three."."""
    import torch
    import torchaudio

    ones = "zero one two three four five six seven eight nine".split()
    metadata, clips = [], {}
    for i in range(n):
        digits = (i % 10, (3 * i + 1) % 10)
        parts = []
        for d in digits:
            audio, rate = sf.read(fsdd_root / "recordings" / f"{d}_{speaker}_{10 + i}.wav", dtype="float32")
            parts.append(torchaudio.functional.resample(torch.from_numpy(audio), rate, RATE).numpy())
        utt = f"LJ001-{i + 1:04d}"
        clips[utt] = np.clip(np.concatenate(parts), -1, 1)
        metadata.append((utt, f"{digits[0]} {digits[1]}.", f"{ones[digits[0]]} {ones[digits[1]]}."))
    return write_ljspeech_tree(root, metadata, clips.__getitem__)
