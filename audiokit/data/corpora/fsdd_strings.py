"""Connected-digit strings built from FSDD recordings, for ASR.

Each utterance joins 1-6 recordings of one speaker (digits drawn at random, so digits can
repeat) with 50-300 ms pauses, after 100 ms of lead-in, plus faint noise (-80 dBFS) so the
pauses are not digital silence. The text is the digit words ("three one four"). Strings of
a split use only recordings whose index lies in that split's range, so the recording sets
of train, valid and test never overlap. Everything is deterministic given the seed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import soundfile as sf

from audiokit.data.corpora.fsdd import Recording, load_recordings
from audiokit.data.datadir import DataDir, DataDirError

log = logging.getLogger(__name__)

WORDS = "zero one two three four five six seven eight nine".split()
SAMPLE_RATE = 8000
# Strings per speaker: 2,000 / 200 / 300 strings over FSDD's five speakers.
DEFAULT_SPLITS = {"train": ((10, 50), 400), "valid": ((5, 10), 40), "test": ((0, 5), 60)}


def make_strings(recordings: list[Recording], out: Path, count: int, seed: int,
                 min_digits: int = 1, max_digits: int = 6) -> DataDir:
    """``count`` strings per speaker from ``recordings``; wavs in ``out/wav``, data dir in ``out``."""
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[Recording]] = {}
    for r in recordings:
        by_speaker.setdefault(r.speaker, []).append(r)
    wav_dir = out / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    d = DataDir(path=out, wav_scp={}, text={}, utt2spk={}, utt2dur={})
    cache: dict[Path, np.ndarray] = {}
    for speaker in sorted(by_speaker):
        pool = by_speaker[speaker]
        for n in range(count):
            picks = rng.choice(len(pool), size=rng.integers(min_digits, max_digits + 1))
            pieces = [np.zeros(SAMPLE_RATE // 10, np.float32)]
            for k in picks:
                path = pool[k].path
                if path not in cache:
                    audio, sr = sf.read(path, dtype="float32")
                    if sr != SAMPLE_RATE or audio.ndim != 1:
                        raise DataDirError(f"{path}: expected 8 kHz mono FSDD audio")
                    cache[path] = audio
                pause = int(SAMPLE_RATE * rng.uniform(0.05, 0.3))
                pieces += [cache[path], np.zeros(pause, np.float32)]
            audio = np.concatenate(pieces)
            audio += 1e-4 * rng.standard_normal(len(audio)).astype(np.float32)
            utt = f"{speaker}-str{n:04d}"
            wav = wav_dir / f"{utt}.wav"
            sf.write(wav, np.clip(audio, -1, 1), SAMPLE_RATE, subtype="PCM_16")
            d.wav_scp[utt] = str(wav.resolve())
            d.text[utt] = " ".join(WORDS[int(pool[k].digit)] for k in picks)
            d.utt2spk[utt] = speaker
            d.utt2dur[utt] = round(len(audio) / SAMPLE_RATE, 4)
    d.write()
    return d


def prepare(root: Path | None, out: Path,
            splits: dict[str, tuple[tuple[int, int], int]] | None = None,
            speakers: list[str] | None = None, seed: int = 1,
            download_dir: Path | None = None) -> dict[str, DataDir]:
    """Write ``out/<split>/`` data dirs of digit strings: split -> ((index lo, hi), strings
    per speaker). Each split gets its own seed offset, so changing one leaves the others."""
    root, recordings = load_recordings(root, out, speakers, download_dir)
    dirs = {}
    for offset, (name, ((lo, hi), count)) in enumerate((splits or DEFAULT_SPLITS).items()):
        chosen = [r for r in recordings if lo <= r.index < hi]
        if not chosen:
            raise DataDirError(f"{root}: split '{name}' (index {lo}..{hi - 1}) is empty")
        dirs[name] = make_strings(chosen, out / name, count, seed + 1000 * offset)
        log.info("%s: %d strings", out / name, len(dirs[name].wav_scp))
    return dirs
