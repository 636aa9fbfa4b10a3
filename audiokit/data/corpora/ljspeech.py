"""LJSpeech-1.1 (Ito & Johnson 2017): one reader, 13,100 clips, as the archive unpacks:

    LJSpeech-1.1/metadata.csv      id|transcription|normalized transcription   (UTF-8, no header)
    LJSpeech-1.1/wavs/<id>.wav     22,050 Hz mono 16-bit PCM

The data dirs take the third column, the normalized transcription (numbers, abbreviations
and symbols already written out as words: "Mr." -> "Mister", "1850" -> "eighteen fifty").
Fields are split on ``|`` alone, with no CSV quoting: the transcriptions hold unbalanced
quotes, which a CSV reader would merge across lines.

Split, fixed and deterministic: the ids in sorted order, the last ``test_count`` are
``test``, the ``valid_count`` before them ``valid``, the rest ``train``. The defaults (250,
250) give the same utterances as ESPnet's egs2/ljspeech recipe (its ``eval1``, ``dev`` and
``tr_no_dev``: the last 500 sorted ids, halved): train 12,600, valid 250, test 250 on the
full corpus. One speaker: ``utt2spk`` says ``LJ``.

Each data dir has ``wav.scp`` (absolute paths), ``text``, ``utt2spk``/``spk2utt`` and
``utt2dur`` (from the wav headers). A metadata line with the wrong number of fields, an
empty normalized text, a repeated id, a listed id without its wav, or a file that is not
UTF-8 is an error naming the file and the line.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from audiokit.data.audio import audio_info
from audiokit.data.datadir import DataDir, DataDirError

log = logging.getLogger(__name__)

SAMPLE_RATE = 22050
SPEAKER = "LJ"
SPLITS = ("train", "valid", "test")


def corpus_dir(root: Path) -> Path:
    """The ``LJSpeech-1.1`` folder: ``root``'s child of that name, or ``root`` itself."""
    return root / "LJSpeech-1.1" if (root / "LJSpeech-1.1").is_dir() else root


def read_metadata(path: Path) -> list[tuple[str, str, int]]:
    """``(id, normalized text, line number)`` of every line of ``metadata.csv``, in file order."""
    if not path.is_file():
        raise DataDirError(f"{path}: no such file (expected the LJSpeech-1.1 layout: "
                           f"metadata.csv, wavs/<id>.wav)")
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataDirError(f"{path}:{line}: not UTF-8 text (byte {raw[e.start]:#04x} at offset "
                           f"{e.start}); LJSpeech's metadata.csv is UTF-8") from None
    rows, seen = [], {}
    for lineno, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != 3:
            raise DataDirError(f"{path}:{lineno}: expected 3 fields 'id|transcription|normalized "
                               f"transcription', got {len(fields)}: {line[:80]!r}")
        utt, norm = fields[0].strip(), " ".join(fields[2].split())
        if not utt or len(utt.split()) != 1:
            raise DataDirError(f"{path}:{lineno}: bad utterance id {fields[0]!r}")
        if not norm:
            raise DataDirError(f"{path}:{lineno}: {utt}: empty normalized transcription (3rd field)")
        if utt in seen:
            raise DataDirError(f"{path}:{lineno}: {utt}: repeated id (first on line {seen[utt]})")
        seen[utt] = lineno
        rows.append((utt, norm, lineno))
    if not rows:
        raise DataDirError(f"{path}: no utterances")
    return rows


def split_ids(ids: list[str], valid_count: int, test_count: int) -> dict[str, list[str]]:
    """train / valid / test ids: the sorted ids' last ``test_count``, the ``valid_count``
    before them, and the rest."""
    if valid_count < 1 or test_count < 1:
        raise ValueError(f"valid_count and test_count must be at least 1, got {valid_count}, {test_count}")
    ids = sorted(ids)
    n_train = len(ids) - valid_count - test_count
    if n_train < 1:
        raise DataDirError(f"{len(ids)} utterances leave none for train after {valid_count} valid "
                           f"and {test_count} test; ask for fewer")
    return {"train": ids[:n_train], "valid": ids[n_train:n_train + valid_count],
            "test": ids[n_train + valid_count:]}


def prepare(root: str | Path, out_dir: str | Path, valid_count: int = 250, test_count: int = 250,
            num_workers: int = min(8, os.cpu_count() or 1)) -> dict[str, DataDir]:
    """Write ``out_dir/{train,valid,test}``; returns them by name.

    ``root`` is the ``LJSpeech-1.1`` folder or the folder that holds it.
    """
    corpus = corpus_dir(Path(root))
    metadata = corpus / "metadata.csv"
    rows = read_metadata(metadata)
    text = {utt: norm for utt, norm, _ in rows}
    wav_scp = {}
    for utt, _, lineno in rows:
        wav = corpus / "wavs" / f"{utt}.wav"
        if not wav.is_file():
            raise DataDirError(f"{metadata}:{lineno}: {utt}: no such file {wav}")
        wav_scp[utt] = str(wav.resolve())
    splits = split_ids(list(text), valid_count, test_count)
    utts = sorted(text)
    with ThreadPoolExecutor(max_workers=num_workers) as pool:  # header reads wait on disk
        infos = dict(zip(utts, pool.map(lambda u: audio_info(wav_scp[u], u), utts), strict=True))
    other_rate = [u for u in utts if infos[u].samplerate != SAMPLE_RATE]
    if other_rate:  # the data module resamples; say so rather than hide it
        log.warning("%d wav(s) not at %d Hz, e.g. %s (%d Hz): resampled when read",
                    len(other_rate), SAMPLE_RATE, wav_scp[other_rate[0]], infos[other_rate[0]].samplerate)
    dirs = {}
    for name in SPLITS:
        keep = splits[name]
        dirs[name] = DataDir(path=Path(out_dir) / name, wav_scp={u: wav_scp[u] for u in keep},
                             text={u: text[u] for u in keep}, utt2spk={u: SPEAKER for u in keep},
                             utt2dur={u: infos[u].duration for u in keep})
        dirs[name].write()
        log.info("%s: %d utterances", dirs[name].path, len(keep))
    return dirs
