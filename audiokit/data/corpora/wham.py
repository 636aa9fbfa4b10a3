"""WHAM!/WHAMR!: ``<root>/wav<8k|16k>/<min|max>/<tr|cv|tt>/<mixture/source folder>/<id>.wav``.

WHAM! (Wichern et al. 2019) folders: ``mix_clean``, ``mix_both``, ``mix_single``, ``s1``, ``s2``,
``noise``. WHAMR! (Maciejewski et al. 2020) adds ``_anechoic``/``_reverb`` to every mixture and
speaker folder (``mix_clean_anechoic``, ``mix_both_reverb``, ``s1_anechoic``, ``s2_reverb``, ...);
``noise`` keeps its name. The flavour is read from the folders of each split.

Tasks (Asteroid's ``WHAM_TASKS``/``WHAMR_TASKS`` names): mixture folder -> references (noise):

- ``sep_clean``: ``mix_clean`` -> ``spk1.scp`` s1, ``spk2.scp`` s2
- ``sep_noisy``: ``mix_both`` -> s1, s2 (``noise1.scp`` noise)
- ``enh_single``: ``mix_single`` -> s1 (noise)
- ``enh_both``: ``mix_both`` -> ``mix_clean``, the speech of both speakers unseparated (noise)

On WHAMR! the mixture folder gets ``_anechoic`` or, with ``reverb=True``, ``_reverb``; the
references get ``_anechoic`` (default ``targets="anechoic"``, Asteroid's convention: the model
separates and dereverberates; the anechoic sources are delayed to line up with the reverberant
ones) or ``_reverb`` (``targets="reverb"``, ESPnet's ``spk1.scp``: separation only). Aliases:
``enhance_single``/``enhance_both``, and ``sep_reverb`` = sep_clean + reverb, ``sep_reverb_noisy``
= ``sep_noisy_reverb`` = sep_noisy + reverb.

Data dirs ``tr``, ``cv``, ``tt`` with the LibriMix files (:mod:`audiokit.data.corpora.librimix`):
``wav.scp``, ``spk<k>.scp``, ``noise1.scp`` (noisy tasks), ``utt2spk`` (mixture -> itself),
``spk2utt``, ``utt2dur`` (from the mixture headers). Ids are the file names (wsj0-2mix style
``<utt1>_<snr1>_<utt2>_<snr2>``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from audiokit.data.corpora.librimix import (
    Mixture,
    check_files,
    check_sample_rate,
    fill_durations,
    write_separation_dir,
)
from audiokit.data.datadir import DataDir, DataDirError

log = logging.getLogger(__name__)

SPLITS = ("tr", "cv", "tt")
MODES = ("min", "max")
SAMPLE_RATES = (8000, 16000)
TARGETS = ("anechoic", "reverb")


@dataclass(frozen=True)
class Task:
    mixture: str  # WHAM! folder name; WHAMR! adds _anechoic or _reverb
    refs: tuple[str, ...]
    noise: bool


TASKS = {
    "sep_clean": Task("mix_clean", ("s1", "s2"), noise=False),
    "sep_noisy": Task("mix_both", ("s1", "s2"), noise=True),
    "enh_single": Task("mix_single", ("s1",), noise=True),
    "enh_both": Task("mix_both", ("mix_clean",), noise=True),
}
# alias -> (task, reverberant mixture)
ALIASES = {
    "enhance_single": ("enh_single", False),
    "enhance_both": ("enh_both", False),
    "sep_reverb": ("sep_clean", True),
    "sep_reverb_noisy": ("sep_noisy", True),
    "sep_noisy_reverb": ("sep_noisy", True),
}
TASK_NAMES = tuple(TASKS) + tuple(ALIASES)


def resolve_task(task: str, reverb: bool) -> tuple[Task, bool]:
    """(task, reverberant mixture?) of a task name; ``sep_reverb*`` names imply ``reverb``."""
    if task in ALIASES:
        name, implied = ALIASES[task]
        return TASKS[name], reverb or implied
    if task not in TASKS:
        raise ValueError(f"task '{task}': expected one of {list(TASK_NAMES)}")
    return TASKS[task], reverb


def is_whamr(split_dir: Path) -> bool:
    return any((split_dir / f"{f}_anechoic").is_dir()
               for f in ("mix_clean", "mix_both", "mix_single", "s1"))


def task_folders(split_dir: Path, task: Task, reverb: bool,
                 targets: str) -> tuple[str, list[str], str | None]:
    """(mixture folder, reference folders, noise folder or None) of a task in this split."""
    noise = "noise" if task.noise else None
    if is_whamr(split_dir):
        mix = task.mixture + ("_reverb" if reverb else "_anechoic")
        return mix, [f"{r}_{targets}" for r in task.refs], noise
    if reverb or targets == "reverb":  # nothing reverberant in WHAM!
        what = "reverberant mixtures" if reverb else "reverberant targets"
        raise DataDirError(f"{split_dir}: a WHAM! split (no *_anechoic/*_reverb folders): "
                           f"{what} need WHAMR!")
    return task.mixture, list(task.refs), noise


def list_split(split_dir: Path, task: Task, reverb: bool, targets: str) -> list[Mixture]:
    """Mixtures of one split: the wav files of its mixture folder, references cross-checked."""
    mix_folder, ref_folders, noise_folder = task_folders(split_dir, task, reverb, targets)
    mix_dir = split_dir / mix_folder
    if not mix_dir.is_dir():
        present = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
        raise DataDirError(f"{mix_dir}: mixture folder not found (folders in {split_dir}: "
                           f"{present or 'none'})")
    ids = sorted(p.stem for p in mix_dir.glob("*.wav"))
    if not ids:
        raise DataDirError(f"{mix_dir}: no .wav mixtures")
    mixtures = [Mixture(i, mix_dir / f"{i}.wav",
                        [split_dir / r / f"{i}.wav" for r in ref_folders],
                        split_dir / noise_folder / f"{i}.wav" if noise_folder else None,
                        origin=f"folder {mix_dir}") for i in ids]
    check_files(mixtures)
    return mixtures


def prepare(
    root: str | Path,
    out: str | Path,
    sample_rate: int = 8000,
    mode: str = "min",
    task: str = "sep_clean",
    reverb: bool = False,
    targets: str = "anechoic",
    splits: Sequence[str] = SPLITS,
    num_workers: int = min(8, os.cpu_count() or 1),
) -> dict[str, DataDir]:
    """Write ``out/<split>/`` (``tr``, ``cv``, ``tt``); returns them by split name.

    ``root`` is the folder the WHAM!/WHAMR! scripts wrote (``--output-dir``), holding ``wav8k/``
    and/or ``wav16k/``. Every split is read and checked before anything is written.
    """
    if sample_rate not in SAMPLE_RATES:
        raise ValueError(f"sample rate {sample_rate}: WHAM! has {SAMPLE_RATES}")
    if mode not in MODES:
        raise ValueError(f"mode '{mode}': expected one of {MODES}")
    if targets not in TARGETS:
        raise ValueError(f"targets '{targets}': expected one of {TARGETS}")
    spec, reverb = resolve_task(task, reverb)
    root = Path(root).resolve()
    base = root / f"wav{sample_rate // 1000}k" / mode
    if not base.is_dir():
        present = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
        raise DataDirError(f"{base}: not found (root must be the WHAM!/WHAMR! output folder "
                           f"holding wav8k/ or wav16k/; found in {root}: {present or 'nothing'})")
    missing = [s for s in splits if not (base / s).is_dir()]
    if missing:
        present = sorted(p.name for p in base.iterdir() if p.is_dir())
        raise DataDirError(f"{base / missing[0]}: split '{missing[0]}' not found "
                           f"(splits present in {base}: {present or 'none'})")
    found = {}
    for split in splits:
        mixtures = list_split(base / split, spec, reverb, targets)
        check_sample_rate(mixtures[0], sample_rate)
        fill_durations(mixtures, num_workers)
        found[split] = mixtures
    dirs = {}
    for split, mixtures in found.items():
        dirs[split] = write_separation_dir(Path(out) / split, mixtures)
        log.info("%s: %d mixtures of task %s%s from %s", dirs[split].path, len(mixtures), task,
                 " (reverberant)" if reverb else "", base / split)
    return dirs
