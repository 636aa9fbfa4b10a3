"""Free Spoken Digit Dataset: file names ``{digit}_{speaker}_{index}.wav``, 8 kHz mono.

Customary split: recording index 0-4 is test. We hold index 5-9 out for validation and
train on 10-49, so no recording is in two sets.
"""

from __future__ import annotations

import logging
import re
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from audiokit.data.audio import audio_duration
from audiokit.data.datadir import DataDir, DataDirError, write_list

log = logging.getLogger(__name__)

ARCHIVE_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.9.tar.gz"
FILE_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
LABELS = [str(d) for d in range(10)]
DEFAULT_SPLITS = {"train": (10, 50), "valid": (5, 10), "test": (0, 5)}


@dataclass(frozen=True)
class Recording:
    path: Path
    digit: str
    speaker: str
    index: int

    @property
    def utt_id(self) -> str:  # speaker first: Kaldi sorts spk2utt and utt2spk consistently
        return f"{self.speaker}_{self.digit}_{self.index:02d}"


def download(dest: Path) -> Path:
    """Fetch and unpack the public archive; returns its ``recordings/`` folder."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / "fsdd-v1.0.9.tar.gz"
    if not archive.exists():
        log.info("downloading %s", ARCHIVE_URL)
        tmp = archive.with_suffix(".part")
        try:
            urllib.request.urlretrieve(ARCHIVE_URL, tmp)
        except OSError as e:
            raise DataDirError(f"cannot download FSDD from {ARCHIVE_URL} ({e}); set FSDD_ROOT "
                               "(or --root) to a local copy of the corpus") from None
        tmp.replace(archive)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    found = sorted(dest.glob("*/recordings"))
    if not found:
        raise FileNotFoundError(f"{archive}: no recordings/ folder inside")
    return found[0]


def scan(root: Path) -> list[Recording]:
    """All recordings under ``root`` (the corpus root or its ``recordings/`` folder)."""
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    recordings = []
    for path in sorted(folder.glob("*.wav")):
        m = FILE_NAME.match(path.name)
        if m is None:
            log.warning("%s: not an FSDD file name ({digit}_{speaker}_{index}.wav); ignored", path)
            continue
        recordings.append(Recording(path.resolve(), m.group(1), m.group(2), int(m.group(3))))
    if not recordings:
        raise DataDirError(f"{folder}: no FSDD recordings found")
    return recordings


def make_data_dir(recordings: list[Recording], path: Path) -> DataDir:
    d = DataDir(
        path=path,
        wav_scp={r.utt_id: str(r.path) for r in recordings},
        text={r.utt_id: r.digit for r in recordings},
        utt2spk={r.utt_id: r.speaker for r in recordings},
        utt2dur={r.utt_id: audio_duration(str(r.path), r.utt_id) for r in recordings},
        utt2label={r.utt_id: [r.digit] for r in recordings},
    )
    d.write()
    return d


def load_recordings(root: Path | None, out: Path, speakers: list[str] | None = None,
                    download_dir: Path | None = None) -> tuple[Path, list[Recording]]:
    """(corpus root, its recordings of ``speakers`` or all); no ``root``: download FSDD."""
    if root is None:
        root = download(download_dir or out.parent / "downloads")
    recordings = scan(Path(root))
    if speakers:
        known = {r.speaker for r in recordings}
        missing = sorted(set(speakers) - known)
        if missing:
            raise DataDirError(f"{root}: no recordings of speaker(s) {missing}; found {sorted(known)}")
        recordings = [r for r in recordings if r.speaker in speakers]
    return Path(root), recordings


def prepare(
    root: Path | None,
    out: Path,
    splits: dict[str, tuple[int, int]] | None = None,
    speakers: list[str] | None = None,
    download_dir: Path | None = None,
) -> dict[str, DataDir]:
    """Write ``out/<split>/`` data dirs (index ranges are half-open) and ``out/labels.txt``."""
    root, recordings = load_recordings(root, out, speakers, download_dir)
    out.mkdir(parents=True, exist_ok=True)
    dirs = {}
    for name, (lo, hi) in (splits or DEFAULT_SPLITS).items():
        chosen = [r for r in recordings if lo <= r.index < hi]
        if not chosen:
            raise DataDirError(f"{root}: split '{name}' (index {lo}..{hi - 1}) is empty")
        dirs[name] = make_data_dir(chosen, out / name)
        log.info("%s: %d utterances", out / name, len(chosen))
    write_list(out / "labels.txt", LABELS)
    return dirs
