"""LibriSpeech: ``LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac``.

Each chapter folder holds ``<speaker>-<chapter>.trans.txt`` with one ``<utt-id> TRANSCRIPT``
line per flac file. One data dir per subset, named with ``_`` for ``-`` (ESPnet's names:
``train_clean_100``, ``dev_clean``, ...). Utterance ids already start with the speaker id,
so utt2spk and spk2utt sort consistently. Unlike Kaldi's recipe (speaker = reader-chapter),
utt2spk holds the reader: speaker-level splits and per-speaker statistics need it. The text is
kept as in the corpus (upper case).
"""

from __future__ import annotations

import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from audiokit.data.audio import audio_duration
from audiokit.data.datadir import DataDir, DataDirError

log = logging.getLogger(__name__)

SUBSETS = ["train-clean-100", "train-clean-360", "train-other-500",
           "dev-clean", "dev-other", "test-clean", "test-other"]
DEFAULT_SUBSETS = ["train-clean-100", "dev-clean", "test-clean"]
UTT_ID = re.compile(r"^(\d+)-(\d+)-(\d+)$")


def corpus_dir(root: Path) -> Path:
    """The ``LibriSpeech`` folder: ``root`` itself or its ``LibriSpeech/`` child."""
    return root / "LibriSpeech" if (root / "LibriSpeech").is_dir() else root


def data_dir_name(subset: str) -> str:
    return subset.replace("-", "_")


def read_chapter(chapter: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(utt -> transcript, utt -> absolute flac path) of one chapter folder, cross-checked."""
    speaker, chapter_id = chapter.parent.name, chapter.name
    trans = chapter / f"{speaker}-{chapter_id}.trans.txt"
    flacs = {p.stem: p for p in chapter.glob("*.flac")}
    if not trans.is_file():
        raise DataDirError(f"{trans}: transcript missing for {len(flacs)} flac file(s) in {chapter}")
    text: dict[str, str] = {}
    for lineno, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        utt, _, words = line.strip().partition(" ")
        m = UTT_ID.match(utt)
        if m is None or m.group(1) != speaker or m.group(2) != chapter_id or not words.strip():
            raise DataDirError(f"{trans}:{lineno}: expected '{speaker}-{chapter_id}-NNNN "
                               f"TRANSCRIPT', got {line!r}")
        if utt in text:
            raise DataDirError(f"{trans}:{lineno}: duplicate utterance '{utt}'")
        if utt not in flacs:
            raise DataDirError(f"{trans}:{lineno}: utterance '{utt}' has no audio file "
                               f"{chapter / (utt + '.flac')}")
        text[utt] = words.strip()
    untranscribed = sorted(set(flacs) - set(text))
    if untranscribed:
        raise DataDirError(f"{flacs[untranscribed[0]]}: no transcript line in {trans} "
                           f"({len(untranscribed)} such file(s) in {chapter})")
    return text, {u: str(flacs[u].resolve()) for u in text}


def prepare_subset(subset_dir: Path, out: Path, num_workers: int = 8) -> DataDir:
    """One data dir from a subset folder; durations from the flac headers, read in threads."""
    text: dict[str, str] = {}
    wav_scp: dict[str, str] = {}
    for speaker in sorted(p for p in subset_dir.iterdir() if p.is_dir()):
        for chapter in sorted(p for p in speaker.iterdir() if p.is_dir()):
            chapter_text, chapter_wavs = read_chapter(chapter)
            text.update(chapter_text)
            wav_scp.update(chapter_wavs)
    if not wav_scp:
        raise DataDirError(f"{subset_dir}: no utterances found")
    utts = sorted(wav_scp)
    with ThreadPoolExecutor(max_workers=num_workers) as pool:  # header reads wait on disk
        durations = list(pool.map(lambda u: audio_duration(wav_scp[u], u), utts))
    d = DataDir(path=out, wav_scp=wav_scp, text=text,
                utt2spk={u: u.split("-", 1)[0] for u in utts},
                utt2dur=dict(zip(utts, durations, strict=True)))
    d.write()
    return d


def prepare(
    root: str | Path,
    out_dir: str | Path,
    subsets: list[str] | None = None,
    num_workers: int = min(8, os.cpu_count() or 1),
) -> dict[str, DataDir]:
    """Write ``out_dir/<subset with _>/`` for each subset; returns them by subset name.

    ``root`` is the ``LibriSpeech`` folder or the folder that holds it.
    """
    corpus = corpus_dir(Path(root))
    subsets = subsets or DEFAULT_SUBSETS
    missing = [s for s in subsets if not (corpus / s).is_dir()]
    if missing:
        found = sorted(p.name for p in corpus.iterdir() if p.is_dir()) if corpus.is_dir() else []
        raise DataDirError(f"{corpus / missing[0]}: subset '{missing[0]}' not found "
                           f"(subsets present in {corpus}: {found or 'none'})")
    dirs = {}
    for subset in subsets:
        out = Path(out_dir) / data_dir_name(subset)
        dirs[subset] = prepare_subset(corpus / subset, out, num_workers)
        log.info("%s: %d utterances from %s", out, len(dirs[subset]), corpus / subset)
    return dirs
