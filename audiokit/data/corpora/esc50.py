"""ESC-50 (Piczak 2015): ``<root>/audio/<fold>-<clip>-<take>-<target>.wav`` (2,000 clips of
5 s, 44.1 kHz mono, 50 classes of 40) and ``<root>/meta/esc50.csv`` (``filename, fold, target,
category, esc10, src_file, take``), as the official archive unpacks.

ESC-50 is scored by 5-fold cross-validation over its predefined folds (clips cut from one
source recording share a fold, so a fold split never leaks a recording). ``prepare`` writes
one split of it: ``test`` = fold ``test_fold``, ``valid`` = the next fold (5 wraps to 1),
``train`` = the other three; run it five times, once per test fold, for the usual mean.
``esc10=True`` keeps the ESC-10 subset (10 classes). Each data dir has ``wav.scp``,
``utt2label`` (the category name), ``utt2spk`` (the source recording, so speaker-style
grouping keeps takes together) and ``utt2dur``; ``out/labels.txt`` lists the classes in
target order.
"""

from __future__ import annotations

import csv
from pathlib import Path

from audiokit.data.audio import audio_duration
from audiokit.data.datadir import DataDir, DataDirError, write_list

COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
FOLDS = (1, 2, 3, 4, 5)


def read_meta(root: Path) -> list[dict[str, str]]:
    """The rows of ``meta/esc50.csv``; a missing file or column is an error naming it."""
    meta = root / "meta" / "esc50.csv"
    if not meta.is_file():
        raise DataDirError(f"{meta}: no such file (expected the ESC-50 layout: audio/, meta/esc50.csv)")
    with open(meta, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataDirError(f"{meta}: missing column(s) {', '.join(missing)}")
        rows = list(reader)
    for line, row in enumerate(rows, 2):
        if not row["fold"].isdigit() or int(row["fold"]) not in FOLDS:
            raise DataDirError(f"{meta}:{line}: fold {row['fold']!r} is not one of 1-5")
    return rows


def prepare(root: Path, out: Path, test_fold: int = 5, esc10: bool = False) -> dict[str, DataDir]:
    """Write ``out/{train,valid,test}`` and ``out/labels.txt``; returns the data dirs."""
    if test_fold not in FOLDS:
        raise ValueError(f"test_fold must be one of 1-5, got {test_fold}")
    rows = read_meta(root)
    if esc10:
        rows = [r for r in rows if r["esc10"].strip().lower() == "true"]
    valid_fold = test_fold % 5 + 1
    fold_of = {"test": (test_fold,), "valid": (valid_fold,),
               "train": tuple(f for f in FOLDS if f not in (test_fold, valid_fold))}
    labels = {int(r["target"]): r["category"] for r in rows}
    dirs = {}
    for name, folds in fold_of.items():
        chosen = [r for r in rows if int(r["fold"]) in folds]
        if not chosen:
            raise DataDirError(f"{root}: split '{name}' (fold {', '.join(map(str, folds))}) is empty")
        wav_scp, utt2label, utt2spk, utt2dur = {}, {}, {}, {}
        for r in chosen:
            path = root / "audio" / r["filename"]
            if not path.is_file():
                raise DataDirError(f"{root / 'meta' / 'esc50.csv'}: {r['filename']}: no such file {path}")
            utt = Path(r["filename"]).stem
            wav_scp[utt] = str(path)
            utt2label[utt] = [r["category"]]
            utt2spk[utt] = r["src_file"]
            utt2dur[utt] = audio_duration(str(path), utt)
        dirs[name] = DataDir(path=out / name, wav_scp=wav_scp, utt2spk=utt2spk, utt2dur=utt2dur,
                             utt2label=utt2label)
        dirs[name].write()
    write_list(out / "labels.txt", [labels[t] for t in sorted(labels)])
    return dirs
