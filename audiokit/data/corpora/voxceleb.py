"""VoxCeleb: ``<root>/voxceleb1/<dev|test>/wav/<speaker id10001>/<youtube id>/<00001>.wav``.

Where each subset's audio is looked for, first match wins (the folder names the official zips
unpack to, and the places the SpeechBrain, WeSpeaker and Kaldi recipes put them):

- ``voxceleb1_dev`` / ``voxceleb1_test``: ``<root>/voxceleb1/<part>/wav`` (WeSpeaker),
  ``<root>/vox1_<part>_wav/wav`` (a zip unpacked into a folder of its own name),
  ``<root>/<part>/wav`` (``root`` is the VoxCeleb1 folder: Kaldi's ``make_voxceleb1_v2.pl``),
  then a flat ``<root>/wav`` or ``<root>/voxceleb1/wav`` holding both zips (SpeechBrain), split
  by speaker: the 40 test speakers are id10270-id10309.
- ``voxceleb2_dev`` / ``voxceleb2_test``: VoxCeleb2 ships as AAC ``.m4a`` (``<part>/aac/...``),
  which soundfile cannot read; only wav/flac conversions are used: ``<root>/voxceleb2/<part>/wav``,
  ``<root>/voxceleb2_wav/<part>/wav``, ``<root>/voxceleb2_wav/<part>/aac`` (WeSpeaker's
  ``m4a2wav.pl`` keeps the ``aac`` name), ``<root>/<part>/wav`` (``root`` is the VoxCeleb2
  folder), or ``.wav`` next to the ``.m4a`` in ``<root>/voxceleb2/<part>/aac``. An ``.m4a``
  without a conversion is an error giving the ffmpeg command. Speaker ids are range-checked
  (VoxCeleb1 id10001-id11251, VoxCeleb2 id00012-id09272), which catches one corpus's folder
  taken for the other's.

Each subset becomes a data dir of its own name with ``wav.scp``, ``utt2spk`` (the ``idNNNNN``
folder), ``spk2utt`` and ``utt2dur`` (wav headers, read in threads). Utterance ids are
:func:`~audiokit.inference.trials.voxceleb_utt_id` of the path under the wav folder
(``id10270-x6uYqmx31kE-00001``, Kaldi's), so they start with the speaker and sort with it.

Official trial lists (``1|0 enroll.wav test.wav``) are read from ``<root>``,
``<root>/voxceleb1``, ``<root>/meta`` or ``<root>/voxceleb1/meta``; the cleaned list wins over
the original one. Our inference scores the one ``trials`` file of a data dir, so each list gets
the data dir it is scored on:

- VoxCeleb1-O (``veri_test2.txt``, else ``veri_test.txt``) -> ``voxceleb1_test/trials``;
- VoxCeleb1-E (``list_test_all2.txt``, else ``list_test_all.txt``) -> ``voxceleb1_e/trials``;
- VoxCeleb1-H (``list_test_hard2.txt``, else ``list_test_hard.txt``) -> ``voxceleb1_h/trials``.

E and H span dev and test (all 1,251 speakers), so, as Kaldi recipes combine data dirs,
``voxceleb1_e``/``voxceleb1_h`` take their utterances from dev + test, keeping only those the
list names (nothing else needs embedding); they are written only when both subsets are
prepared. A trial naming an utterance the data dir lacks is an error naming the list and line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from audiokit.data.audio import audio_duration
from audiokit.data.datadir import DataDir, DataDirError
from audiokit.inference.trials import Trial, read_trials, voxceleb_utt_id, write_trials

log = logging.getLogger(__name__)

SUBSETS = ("voxceleb1_dev", "voxceleb1_test", "voxceleb2_dev", "voxceleb2_test")
DEFAULT_SUBSETS = ("voxceleb1_dev", "voxceleb1_test")
SPEAKER = re.compile(r"id(\d{5})")
VOX1_TEST_SPEAKERS = range(10270, 10310)  # id10270-id10309, the 40 VoxCeleb1 test speakers
AUDIO_EXTS = (".wav", ".flac")
# data dir -> official list names, cleaned (Vox1 "2" lists) first
TRIAL_LISTS = {
    "voxceleb1_test": ("veri_test2.txt", "veri_test.txt"),
    "voxceleb1_e": ("list_test_all2.txt", "list_test_all.txt"),
    "voxceleb1_h": ("list_test_hard2.txt", "list_test_hard.txt"),
}


@dataclass(frozen=True)
class Source:
    """Where a subset's audio is: a wav folder, optionally only some of its speakers."""

    folder: Path
    keep: Callable[[int], bool] | None = None  # on the speaker number, for the flat layout

    def describe(self) -> str:
        return f"{self.folder} (speaker split)" if self.keep else str(self.folder)


def _split(subset: str) -> tuple[int, str]:
    if subset not in SUBSETS:
        raise DataDirError(f"unknown VoxCeleb subset '{subset}' (choose from {', '.join(SUBSETS)})")
    corpus, part = subset.split("_")
    return int(corpus[-1]), part


def _has_audio(folder: Path) -> bool:
    """Whether a ``<spk>/<video>/`` tree holds a wav/flac file (checks the first video only)."""
    for spk in sorted(folder.iterdir()):
        if spk.is_dir():
            for video in sorted(spk.iterdir()):
                if video.is_dir():
                    return any(f.suffix.lower() in AUDIO_EXTS for f in video.iterdir())
    return False


def find_source(root: Path, subset: str) -> Source:
    """The audio folder of ``subset`` under ``root`` (see the module docstring for the order)."""
    version, part = _split(subset)
    if version == 1:
        tried = [root / "voxceleb1" / part / "wav", root / f"vox1_{part}_wav" / "wav",
                 root / part / "wav"]
        for folder in tried:
            if folder.is_dir():
                return Source(folder)
        want_test = part == "test"
        for folder in (root / "wav", root / "voxceleb1" / "wav"):
            tried.append(folder)
            if folder.is_dir():
                return Source(folder, lambda n: (n in VOX1_TEST_SPEAKERS) == want_test)
    else:
        tried = [root / "voxceleb2" / part / "wav", root / "voxceleb2_wav" / part / "wav",
                 root / "voxceleb2_wav" / part / "aac", root / part / "wav"]
        for folder in tried:
            if folder.is_dir():
                return Source(folder)
        # The distributed m4a folder: usable only where wav conversions sit next to the m4a;
        # scan() names the missing conversions and the ffmpeg command otherwise.
        for folder in (root / "voxceleb2" / part / "aac", root / "voxceleb2_m4a" / part / "aac",
                       root / part / "aac"):
            tried.append(folder)
            if folder.is_dir():
                if not _has_audio(folder):
                    raise _m4a_error(root, part, folder, next(folder.rglob("*.m4a"), None))
                return Source(folder)
    raise DataDirError(f"{root}: VoxCeleb subset '{subset}' not found; looked for "
                       + ", ".join(str(p) for p in tried))


def _m4a_error(root: Path, part: str, folder: Path, m4a: Path | None,
               count: int | None = None) -> DataDirError:
    if m4a is None:  # an aac folder without any audio: nothing to convert either
        return DataDirError(f"{folder}: no .wav/.flac (or .m4a) files in <speaker>/<video>/")
    rel = m4a.relative_to(folder).with_suffix(".wav")
    wav = root / "voxceleb2" / part / "wav" / rel
    many = f"{folder}: {count} .m4a file(s) have no .wav/.flac conversion, e.g. " if count else ""
    return DataDirError(
        f"{many}{m4a}: VoxCeleb2 is distributed as AAC .m4a, which soundfile cannot "
        f"read; convert it to wav (or flac) first, keeping <speaker>/<video>/<n>, one ffmpeg call "
        f"per file: ffmpeg -v 8 -i {m4a} -ac 1 -ar 16000 -acodec pcm_s16le {wav}  "
        f"(then rerun; {root / 'voxceleb2' / part / 'wav'} is read first)"
    )


def scan(root: Path, subset: str, source: Source) -> dict[str, Path]:
    """utt id -> absolute audio path of one subset, with the folder names cross-checked."""
    version, part = _split(subset)
    folder = source.folder.resolve()  # once, rather than per file
    audio: dict[str, Path] = {}
    m4a: list[Path] = []
    for spk in sorted(folder.iterdir()):
        if spk.name.startswith(".") or not spk.is_dir():
            continue
        m = SPEAKER.fullmatch(spk.name)
        if m is None:
            raise DataDirError(f"{spk}: speaker folder must be named 'id' + 5 digits "
                               f"(e.g. id10270), got '{spk.name}'")
        number = int(m.group(1))
        # VoxCeleb1 ids are id10001-id11251, VoxCeleb2 ids id00012-id09272: catches a swapped root
        if (number >= 10000) != (version == 1):
            raise DataDirError(f"{spk}: '{spk.name}' is not a VoxCeleb{version} speaker id "
                               f"(VoxCeleb1: id10001-id11251, VoxCeleb2: id00012-id09272)")
        if source.keep is not None and not source.keep(number):
            continue
        for video in sorted(spk.iterdir()):
            if video.name.startswith(".") or not video.is_dir():
                continue
            for f in sorted(video.iterdir()):
                ext = f.suffix.lower()
                if ext == ".m4a":
                    m4a.append(f)
                elif ext in AUDIO_EXTS:
                    utt = voxceleb_utt_id(f.relative_to(folder).as_posix())
                    if any(c.isspace() for c in utt):  # would break the Kaldi files
                        raise DataDirError(f"{f}: white space in the path under {folder}")
                    if utt in audio:
                        raise DataDirError(f"{f}: same utterance id '{utt}' as {audio[utt]}")
                    audio[utt] = f
    unconverted = [p for p in m4a if voxceleb_utt_id(p.relative_to(folder).as_posix()) not in audio]
    if unconverted:
        raise _m4a_error(root, part, folder, unconverted[0], len(unconverted))
    if not audio:
        which = " of its speakers" if source.keep else ""
        raise DataDirError(f"{folder}: no .wav/.flac files{which} for subset '{subset}' "
                           f"(expected {folder}/idNNNNN/<video>/<n>.wav)")
    return audio


def build(out: Path, audio: dict[str, Path], num_workers: int) -> DataDir:
    """In-memory data dir of one subset; durations from the headers, read in threads."""
    utts = sorted(audio)
    wav_scp = {u: str(audio[u]) for u in utts}
    with ThreadPoolExecutor(max_workers=max(1, num_workers)) as pool:  # header reads wait on disk
        durations = list(pool.map(lambda u: audio_duration(wav_scp[u], u), utts))
    return DataDir(path=out, wav_scp=wav_scp, utt2spk={u: u.split("-", 1)[0] for u in utts},
                   utt2dur=dict(zip(utts, durations, strict=True)))


def find_trial_list(root: Path, name: str) -> Path | None:
    """The official list for data dir ``name``: the cleaned one first, then the folder order."""
    folders = (root, root / "voxceleb1", root / "meta", root / "voxceleb1" / "meta")
    found = [f / n for n in TRIAL_LISTS[name] for f in folders if (f / n).is_file()]
    if len(found) > 1:
        log.info("%s: using %s, ignoring %s", name, found[0], ", ".join(map(str, found[1:])))
    return found[0] if found else None


def _read_list(path: Path, d: DataDir, where: str) -> list[Trial]:
    try:
        return read_trials(path, known_utts=d.wav_scp)
    except DataDirError as e:
        raise DataDirError(f"{e}; {d.path} is built from {where}") from None


def _subset_dir(path: Path, dirs: Sequence[DataDir], trials: list[Trial]) -> DataDir:
    """A data dir of the utterances ``trials`` names, taken from the dirs already built."""
    named = {u for t in trials for u in (t.enroll, t.test)}
    wav_scp = {u: p for d in dirs for u, p in d.wav_scp.items() if u in named}
    utt2dur = {u: s for d in dirs for u, s in d.utt2dur.items() if u in named}
    utts = sorted(wav_scp)
    return DataDir(path=path, wav_scp={u: wav_scp[u] for u in utts},
                   utt2spk={u: u.split("-", 1)[0] for u in utts},
                   utt2dur={u: utt2dur[u] for u in utts})


def prepare(
    root: str | Path,
    out: str | Path,
    subsets: Sequence[str] = DEFAULT_SUBSETS,
    num_workers: int = 8,
) -> dict[str, DataDir]:
    """Write ``out/<subset>/`` for each subset (plus ``voxceleb1_e``/``voxceleb1_h`` when their
    lists are present); returns the data dirs by name. Everything is checked before anything
    is written."""
    root, out = Path(root), Path(out)
    subsets = list(dict.fromkeys(subsets))  # drop repeats, keep the order
    if not subsets:
        raise DataDirError("no VoxCeleb subsets given")
    sources = {s: find_source(root, s) for s in subsets}  # every layout error before any scan
    dirs: dict[str, DataDir] = {}
    for subset, source in sources.items():
        audio = scan(root, subset, source)
        dirs[subset] = build(out / subset, audio, num_workers)
        log.info("%s: %d utterances of %d speakers from %s", subset, len(audio),
                 len(set(dirs[subset].utt2spk.values())), source.describe())

    if {"voxceleb1_dev", "voxceleb1_test"} <= set(dirs):  # disjoint in the corpus; E/H merge them
        dev, test = (set(dirs[s].utt2spk.values()) for s in ("voxceleb1_dev", "voxceleb1_test"))
        if dev & test:
            raise DataDirError(f"speaker {min(dev & test)} is in both "
                               f"{sources['voxceleb1_dev'].describe()} and "
                               f"{sources['voxceleb1_test'].describe()} ({len(dev & test)} such)")

    trials: dict[str, list[Trial]] = {}
    o_list = find_trial_list(root, "voxceleb1_test")
    if "voxceleb1_test" in dirs:
        if o_list is None:
            log.warning("no VoxCeleb1-O list (veri_test2.txt or veri_test.txt) in %s, %s or their "
                        "meta/: voxceleb1_test gets no trials file", root, root / "voxceleb1")
        else:
            trials["voxceleb1_test"] = _read_list(o_list, dirs["voxceleb1_test"],
                                                  sources["voxceleb1_test"].describe())
    for name in ("voxceleb1_e", "voxceleb1_h"):
        path = find_trial_list(root, name)
        if path is None:
            continue
        if not {"voxceleb1_dev", "voxceleb1_test"} <= set(dirs):
            log.warning("%s: skipped, its utterances span voxceleb1_dev and voxceleb1_test; "
                        "prepare both to get %s", path, out / name)
            continue
        vox1 = [dirs["voxceleb1_dev"], dirs["voxceleb1_test"]]
        union = DataDir(path=out / name, wav_scp={u: p for d in vox1 for u, p in d.wav_scp.items()})
        trials[name] = _read_list(path, union, "voxceleb1_dev + voxceleb1_test")
        dirs[name] = _subset_dir(out / name, vox1, trials[name])

    for name, d in dirs.items():
        d.write()
        if name in trials:
            write_trials(d.path / "trials", trials[name])
            n_target = sum(bool(t.target) for t in trials[name])
            log.info("%s: %d trials (%d target)", d.path / "trials", len(trials[name]), n_target)
        elif (d.path / "trials").is_file():  # from an earlier run: no longer true of this data
            (d.path / "trials").unlink()
            log.warning("%s: removed the trials file of an earlier run", d.path)
    return dirs
