"""Connected-digit strings built from FSDD recordings, for ASR.

Each utterance joins 1-6 recordings of one speaker (digits drawn at random, so digits can
repeat) with 50-300 ms pauses, after 100 ms of lead-in, plus faint noise (-80 dBFS) so the
pauses are not digital silence. The text is the digit words ("three one four"). Strings of
a split use only recordings whose index lies in that split's range, so the recording sets
of train, valid and test never overlap. Everything is deterministic given the seed.

FSDD's recordings are endpointed by energy, more tightly for some speakers than others: theo's
"zero" starts in the vowel (20 ms to within 10 dB of its peak, against 40-120 ms for three of
the others), and is then heard as "two". ``onset_cut_prob`` cuts the weak onset off that share
of the training split's recordings (:func:`cut_onset`), so the model also learns words without
it; valid and test recordings are never cut.
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
# A cut onset starts at the first 10 ms frame within ONSET_DB (drawn per recording) of the
# recording's loudest frame: theo's recordings are within 17 dB at their first frame.
ONSET_FRAME = SAMPLE_RATE // 100
ONSET_DB = (10.0, 20.0)
# Strings per speaker: 2,000 / 200 / 300 strings over FSDD's five speakers.
DEFAULT_SPLITS = {"train": ((10, 50), 400), "valid": ((5, 10), 40), "test": ((0, 5), 60)}


def cut_onset(audio: np.ndarray, drop_db: float) -> np.ndarray:
    """``audio`` from its first 10 ms frame whose energy is within ``drop_db`` of the loudest
    frame's (an energy endpointer with a high threshold)."""
    frames = len(audio) // ONSET_FRAME
    if frames < 2:
        return audio
    energy = np.square(audio[: frames * ONSET_FRAME].reshape(frames, -1)).mean(1)
    db = 10 * np.log10(energy + 1e-12)
    first = int(np.argmax(db >= db.max() - drop_db))
    return audio[first * ONSET_FRAME :]


def make_strings(recordings: list[Recording], out: Path, count: int, seed: int,
                 min_digits: int = 1, max_digits: int = 6,
                 onset_cut_prob: float = 0.0) -> DataDir:
    """``count`` strings per speaker from ``recordings``; wavs in ``out/wav``, data dir in ``out``.
    ``onset_cut_prob``: share of recordings cut by :func:`cut_onset` (own RNG, so the
    strings drawn are the same with or without it)."""
    rng = np.random.default_rng(seed)
    cut_rng = np.random.default_rng(seed + 1)
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
            uncut = len(pieces[0])
            for k in picks:
                path = pool[k].path
                if path not in cache:
                    audio, sr = sf.read(path, dtype="float32")
                    if sr != SAMPLE_RATE or audio.ndim != 1:
                        raise DataDirError(f"{path}: expected 8 kHz mono FSDD audio")
                    cache[path] = audio
                pause = int(SAMPLE_RATE * rng.uniform(0.05, 0.3))
                word = cache[path]
                uncut += len(word) + pause
                if onset_cut_prob and cut_rng.random() < onset_cut_prob:
                    word = cut_onset(word, cut_rng.uniform(*ONSET_DB))
                pieces += [word, np.zeros(pause, np.float32)]
            audio = np.concatenate(pieces)
            # Noise for the uncut length, so cutting leaves rng's stream (the next strings) as is.
            audio += 1e-4 * rng.standard_normal(uncut)[: len(audio)].astype(np.float32)
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
            download_dir: Path | None = None, onset_cut_prob: float = 0.0) -> dict[str, DataDir]:
    """Write ``out/<split>/`` data dirs of digit strings: split -> ((index lo, hi), strings
    per speaker). Each split gets its own seed offset, so changing one leaves the others.
    ``onset_cut_prob`` applies to the "train" split only."""
    root, recordings = load_recordings(root, out, speakers, download_dir)
    dirs = {}
    for offset, (name, ((lo, hi), count)) in enumerate((splits or DEFAULT_SPLITS).items()):
        chosen = [r for r in recordings if lo <= r.index < hi]
        if not chosen:
            raise DataDirError(f"{root}: split '{name}' (index {lo}..{hi - 1}) is empty")
        dirs[name] = make_strings(chosen, out / name, count, seed + 1000 * offset,
                                  onset_cut_prob=onset_cut_prob if name == "train" else 0.0)
        log.info("%s: %d strings", out / name, len(dirs[name].wav_scp))
    return dirs
