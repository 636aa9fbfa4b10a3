"""AMI meetings -> diarization data dirs, with the standard "AMI-diarization-setup" partition.

The setup is BUT's (github.com/BUTSpeechFIT/AMI-diarization-setup; pyannote's AMI protocol
reads the same files through its ``pyannote/database.yml``): the Full-corpus-ASR partition of
the meetings and references derived from the manual annotations 1.6.2. What is read:

- ``<setup_root>/lists/<split>.meetings.txt`` for split ``train``, ``dev``, ``test``: one
  meeting id per line (``IB4001``, ``ES2011a``, ...).
- ``<setup_root>/<reference>/rttms/<split>/<meeting>.rttm`` (``reference``: ``only_words``,
  the setup's recommended one, or ``word_and_vocalsounds``): NIST RTTM, ten space-separated
  fields per line, ``SPEAKER <meeting> 1 <onset s> <duration s> <NA> <NA> <speaker> <NA> <NA>``,
  e.g. ``SPEAKER IB4001 1 7.81 34.36 <NA> <NA> FIE038 <NA> <NA>``. Only ``SPEAKER`` lines are
  expected; the file field must be the meeting.
- ``<setup_root>/uems/<split>/<meeting>.uem`` (optional): the scored region, one line per
  region, ``<meeting> <channel> <start s> <end s>``, e.g. ``IB4001 1 0.000 1780.650688``.
  Without a ``uems/<split>`` folder the split gets no ``uem`` file (a warning says so); with
  the folder, a meeting without its ``.uem`` is an error.
- audio from the AMI corpus tree as its download script writes it:
  ``<audio_root>/<meeting>/audio/<meeting>.<Mix-Headset|Array1-01>.wav`` (``mic``:
  ``headset-mix``, the sum of the close-talking headsets, or ``array1-01``, the first
  microphone of the first far-field array). ``audio_root`` is the ``amicorpus`` folder or
  the folder holding it.

Each split becomes a data dir named after it (``train``, ``dev``, ``test``) of whole
recordings, id = meeting, sorted: ``wav.scp``, ``utt2spk`` and ``spk2utt`` (each recording
to itself: a meeting is not one speaker), ``utt2dur`` (wav headers), ``rttm`` (the
per-meeting references, rewritten by :func:`audiokit.data.rttm.write_rttm`: sorted, times to
1 ms; zero-length turns left out with a warning), ``uem`` (``<meeting> 1 start end``, as the
setup gives it) and ``reco2num_spk`` (speakers in the reference). A listed
meeting without audio is an error naming the meeting and the path expected, unless
``skip_missing``: then it is left out and listed in a warning. Everything is read and
checked before anything is written.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from audiokit.data.audio import audio_duration
from audiokit.data.datadir import DataDir, DataDirError
from audiokit.data.rttm import Turn, write_rttm

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
MICS = {"headset-mix": "Mix-Headset", "array1-01": "Array1-01"}  # option -> file name part
REFERENCES = ("only_words", "word_and_vocalsounds")


@dataclass
class Meeting:
    id: str
    audio: Path
    turns: list[Turn]
    uem: list[str] = field(default_factory=list)  # "<meeting> <channel> <start> <end>" lines
    duration: float = 0.0


def _number(token: str, where: str, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise DataDirError(f"{where}: {what} {token!r} is not a number") from None
    if not math.isfinite(value):
        raise DataDirError(f"{where}: {what} {token!r} is not a finite number")
    if value < 0:
        raise DataDirError(f"{where}: {what} {token!r} is negative")
    return value


def read_meeting_list(path: Path) -> list[str]:
    """Meeting ids of a ``lists/<split>.meetings.txt`` (blank lines ignored; no repeats)."""
    if not path.is_file():
        raise DataDirError(f"{path}: meeting list not found (expected the AMI-diarization-setup "
                           "layout: lists/<split>.meetings.txt)")
    seen: dict[str, int] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 1:
            raise DataDirError(f"{path}:{n}: expected one meeting id, got {line.strip()!r}")
        if fields[0] in seen:
            raise DataDirError(f"{path}:{n}: meeting '{fields[0]}' listed twice "
                               f"(first at line {seen[fields[0]]})")
        seen[fields[0]] = n
    if not seen:
        raise DataDirError(f"{path}: no meetings listed")
    return list(seen)


def read_reference(path: Path, meeting: str) -> list[Turn]:
    """The turns of one meeting's RTTM, checked line by line; sorted by start. Zero-length
    turns (no speech time; :func:`audiokit.data.rttm.read_rttm` refuses them) are left out and
    listed in a warning."""
    if not path.is_file():
        raise DataDirError(f"{path}: reference RTTM of meeting '{meeting}' not found")
    turns, empty = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith(";"):  # blank or a comment
            continue
        where = f"{path}:{n}"
        if len(fields) != 10 or fields[0] != "SPEAKER":
            raise DataDirError(f"{where}: expected 10 fields 'SPEAKER <file> <channel> <onset> "
                               f"<duration> <NA> <NA> <speaker> <NA> <NA>', got {line.strip()!r}")
        if fields[1] != meeting:
            raise DataDirError(f"{where}: file field '{fields[1]}' is not the meeting "
                               f"'{meeting}' of this RTTM")
        onset = _number(fields[3], where, "onset")
        duration = _number(fields[4], where, "duration")
        if duration == 0:
            empty.append(n)
            continue
        turns.append(Turn(onset, onset + duration, fields[7]))
    if empty:
        log.warning("%s: %d zero-length turn(s) left out (lines %s)", path, len(empty),
                    ", ".join(map(str, empty)))
    if not turns:
        raise DataDirError(f"{path}: no SPEAKER turns (a meeting without speech cannot be "
                           "diarized)")
    return sorted(turns)


def read_uem(path: Path, meeting: str) -> list[str]:
    """The scored regions of one meeting as ``<meeting> <channel> <start> <end>`` lines."""
    lines = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith(";"):
            continue
        where = f"{path}:{n}"
        if len(fields) != 4:
            raise DataDirError(f"{where}: expected '<file> <channel> <start> <end>', "
                               f"got {line.strip()!r}")
        if fields[0] != meeting:
            raise DataDirError(f"{where}: file field '{fields[0]}' is not the meeting "
                               f"'{meeting}' of this UEM")
        start, end = (_number(t, where, w) for t, w in ((fields[2], "start"), (fields[3], "end")))
        if end <= start:
            raise DataDirError(f"{where}: end {fields[3]} is not after start {fields[2]}")
        lines.append(" ".join(fields))
    if not lines:
        raise DataDirError(f"{path}: no scored region")
    return lines


def audio_folder(audio_root: Path) -> Path:
    """The ``amicorpus`` folder: ``audio_root`` itself or its ``amicorpus`` sub-folder."""
    return audio_root / "amicorpus" if (audio_root / "amicorpus").is_dir() else audio_root


def audio_path(corpus: Path, meeting: str, mic: str) -> Path:
    if mic not in MICS:
        raise ValueError(f"mic '{mic}': expected one of {', '.join(MICS)}")
    return corpus / meeting / "audio" / f"{meeting}.{MICS[mic]}.wav"


def read_split(audio_root: Path, setup_root: Path, split: str, mic: str, reference: str,
               skip_missing: bool) -> list[Meeting]:
    """The meetings of one split with their references, audio checked to exist."""
    meetings = read_meeting_list(setup_root / "lists" / f"{split}.meetings.txt")
    rttm_dir = setup_root / reference / "rttms" / split
    uem_dir = setup_root / "uems" / split
    if not uem_dir.is_dir():
        log.warning("%s: no such folder: split '%s' gets no uem file (scoring covers whole "
                    "recordings)", uem_dir, split)
    corpus = audio_folder(audio_root)
    found, missing = [], []
    for meeting in meetings:
        audio = audio_path(corpus, meeting, mic)
        if not audio.is_file():
            if not skip_missing:
                raise DataDirError(f"meeting '{meeting}' of {split}: no audio at {audio} "
                                   f"(mic {mic}; skip_missing leaves such meetings out)")
            missing.append(f"{meeting} ({audio})")
            continue
        turns = read_reference(rttm_dir / f"{meeting}.rttm", meeting)
        uem = []
        if uem_dir.is_dir():
            uem_file = uem_dir / f"{meeting}.uem"
            if not uem_file.is_file():
                raise DataDirError(f"{uem_file}: UEM of meeting '{meeting}' not found "
                                   f"(the other meetings of {uem_dir} have one)")
            uem = read_uem(uem_file, meeting)
        found.append(Meeting(meeting, audio.resolve(), turns, uem))
    if missing:
        log.warning("%s: skipping %d of %d meeting(s) without audio: %s", split, len(missing),
                    len(meetings), ", ".join(missing))
    if not found:
        raise DataDirError(f"split '{split}': none of its {len(meetings)} meetings has audio "
                           f"under {corpus} (mic {mic})")
    return sorted(found, key=lambda m: m.id)


def fill_durations(meetings: Sequence[Meeting], num_workers: int) -> None:
    with ThreadPoolExecutor(max_workers=max(1, num_workers)) as pool:  # header reads wait on disk
        for m, dur in zip(meetings, pool.map(lambda m: audio_duration(str(m.audio), m.id),
                                             meetings), strict=True):
            m.duration = round(dur, 4)


def write_split(out: Path, meetings: Sequence[Meeting]) -> DataDir:
    d = DataDir(path=out, wav_scp={m.id: str(m.audio) for m in meetings},
                utt2spk={m.id: m.id for m in meetings},
                utt2dur={m.id: m.duration for m in meetings})
    d.extra = {"reco2num_spk": {m.id: len({t.speaker for t in m.turns}) for m in meetings}}
    d.write()
    write_rttm(out / "rttm", {m.id: m.turns for m in meetings})
    if all(m.uem for m in meetings):
        (out / "uem").write_text("".join(f"{line}\n" for m in meetings for line in m.uem),
                                 encoding="utf-8")
    elif (out / "uem").is_file():  # from an earlier run: no longer true of this data
        (out / "uem").unlink()
        log.warning("%s: removed the uem file of an earlier run", out)
    return d


def prepare(
    audio_root: str | Path,
    setup_root: str | Path,
    out: str | Path,
    mic: str = "headset-mix",
    splits: Sequence[str] = SPLITS,
    *,
    reference: str = "only_words",
    skip_missing: bool = False,
    num_workers: int = min(8, os.cpu_count() or 1),
) -> dict[str, DataDir]:
    """Write ``out/<split>/`` for each split; returns the data dirs by split."""
    if mic not in MICS:
        raise ValueError(f"mic '{mic}': expected one of {', '.join(MICS)}")
    if reference not in REFERENCES:
        raise ValueError(f"reference '{reference}': expected one of {', '.join(REFERENCES)}")
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        raise ValueError(f"splits {list(splits)}: expected some of {', '.join(SPLITS)}")
    audio_root, setup_root = Path(audio_root), Path(setup_root)
    for folder, what in ((audio_root, "AMI audio root"), (setup_root, "AMI-diarization-setup")):
        if not folder.is_dir():
            raise DataDirError(f"{folder}: {what} folder not found")
    found = {s: read_split(audio_root, setup_root, s, mic, reference, skip_missing)
             for s in dict.fromkeys(splits)}
    for meetings in found.values():
        fill_durations(meetings, num_workers)
    dirs = {}
    for split, meetings in found.items():
        dirs[split] = write_split(Path(out) / split, meetings)
        log.info("%s: %d meetings, %.2f h", dirs[split].path, len(meetings),
                 sum(m.duration for m in meetings) / 3600)
    return dirs
