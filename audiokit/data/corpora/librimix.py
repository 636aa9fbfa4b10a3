"""LibriMix: ``Libri<N>Mix/wav<8k|16k>/<min|max>/<split>/<mix_*|s1..sN|noise>/<mixture_id>.wav``.

The layout and metadata are those written by the JorisCos/LibriMix generation scripts
(``scripts/create_librimix_from_metadata.py``): split folders ``train-100``, ``train-360``,
``dev``, ``test``; mixture folders ``mix_clean`` (speakers only), ``mix_both`` (speakers + noise),
``mix_single`` (speaker 1 + noise, for enhancement); references ``s1``..``sN`` and ``noise``; and
per mode ``metadata/mixture_<split>_mix_<type>.csv`` with the columns ``mixture_ID``,
(``original_mixture_ID``), ``mixture_path``, ``source_1_path``..``source_N_path`` (mix_single:
source 1 only), ``noise_path`` (not for mix_clean) and ``length`` (samples).

One data dir per split, ``-`` -> ``_`` as in ESPnet: ``train_100``, ``train_360``, ``dev``,
``test``. Files: ``wav.scp`` (mixture), ``spk1.scp``..``spkN.scp`` (references; mix_single:
``spk1.scp`` only), ``noise1.scp`` (mix_both, mix_single), ``utt2spk`` (mixture -> itself: the
speakers of a mixture are not one speaker), ``spk2utt``, ``utt2dur``.

The CSV paths are absolute paths on the machine that generated the corpus, so only their folder
and file name are kept and the file is looked up under ``root``: a copied or re-mounted corpus
works. Without the CSVs the mixture folder is listed and durations come from the wav headers.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from audiokit.data.audio import AudioError, audio_duration
from audiokit.data.datadir import DataDir, DataDirError

log = logging.getLogger(__name__)

SPLITS = ("train-100", "train-360", "dev", "test")
MIX_TYPES = ("clean", "both", "single")
MODES = ("min", "max")


@dataclass
class Mixture:
    """One mixture: absolute paths of the mixture, its references and noise, and where from."""

    id: str
    mix: Path
    refs: list[Path]
    noise: Path | None
    duration: float | None = None
    origin: str = ""  # "<csv>:<line>" or "folder <mixture folder>": named in errors


def data_dir_name(split: str) -> str:
    return split.replace("-", "_")


def mode_dir(root: Path, num_speakers: int, sample_rate: int, mode: str) -> Path:
    """``<root>/Libri<N>Mix/wav<k>k/<mode>``; ``root`` may also be the ``Libri<N>Mix`` folder."""
    if sample_rate <= 0 or sample_rate % 1000:
        raise ValueError(f"sample rate {sample_rate}: LibriMix folders are wav<kHz>k, "
                         "e.g. 8000 (wav8k) or 16000 (wav16k)")
    name = f"Libri{num_speakers}Mix"
    corpus = root if root.name == name else root / name
    return corpus / f"wav{sample_rate // 1000}k" / mode


def folders(num_speakers: int, mix_type: str) -> tuple[str, list[str], str | None]:
    """(mixture folder, reference folders, noise folder or None) of a mix type."""
    if mix_type == "single":  # enhancement: the only target is speaker 1
        return "mix_single", ["s1"], "noise"
    refs = [f"s{k + 1}" for k in range(num_speakers)]
    return f"mix_{mix_type}", refs, "noise" if mix_type == "both" else None


def metadata_csv(base: Path, split: str, mix_type: str) -> Path:
    return base / "metadata" / f"mixture_{split}_mix_{mix_type}.csv"


def _folder_and_name(value: str) -> tuple[str, str]:
    parts = [p for p in re.split(r"[\\/]", value.strip()) if p]  # generated on Windows too
    return (parts[-2], parts[-1]) if len(parts) >= 2 else ("", value.strip())


def read_metadata(csv_path: Path, split_dir: Path, num_speakers: int, mix_type: str,
                  sample_rate: int) -> list[Mixture]:
    """Mixtures of one metadata CSV, paths resolved under ``split_dir``; durations from length."""
    mix_folder, ref_folders, noise_folder = folders(num_speakers, mix_type)
    roles = [("mixture_path", mix_folder)]
    roles += [(f"source_{k + 1}_path", f) for k, f in enumerate(ref_folders)]
    roles += [("noise_path", noise_folder)] if noise_folder else []
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        needed = ["mixture_ID"] + [c for c, _ in roles] + ["length"]
        missing = [c for c in needed if c not in columns]
        if missing:
            raise DataDirError(f"{csv_path}: no column '{missing[0]}' (columns: {columns}); "
                               f"expected {needed} for Libri{num_speakers}Mix mix_{mix_type}")
        extra = f"source_{len(ref_folders) + 1}_path"
        if mix_type != "single" and extra in columns:  # a Libri3Mix CSV read as Libri2Mix
            raise DataDirError(f"{csv_path}: has column '{extra}': more than {num_speakers} "
                               f"speakers per mixture (set num_speakers)")
        mixtures: dict[str, Mixture] = {}
        for row in reader:
            where = f"{csv_path}:{reader.line_num}"
            mix_id = (row["mixture_ID"] or "").strip()
            if not mix_id:
                raise DataDirError(f"{where}: empty mixture_ID")
            if mix_id in mixtures:
                raise DataDirError(f"{where}: duplicate mixture_ID '{mix_id}' "
                                   f"(first at {mixtures[mix_id].origin})")
            paths = []
            for column, folder in roles:
                got_folder, name = _folder_and_name(row[column] or "")
                if got_folder != folder or not name.endswith(".wav"):
                    raise DataDirError(f"{where}: mixture '{mix_id}': {column} {row[column]!r} "
                                       f"is not a wav file in a '{folder}' folder")
                paths.append(split_dir / folder / name)
            try:
                length = int(row["length"])
            except (TypeError, ValueError):
                raise DataDirError(f"{where}: mixture '{mix_id}': length {row['length']!r} "
                                   "is not a number of samples") from None
            mixtures[mix_id] = Mixture(
                mix_id, paths[0], paths[1:1 + len(ref_folders)],
                paths[-1] if noise_folder else None, round(length / sample_rate, 4), where)
    return list(mixtures.values())


def list_mixtures(split_dir: Path, num_speakers: int, mix_type: str) -> list[Mixture]:
    """Mixtures found by listing the mixture folder (no metadata CSV); durations unknown."""
    mix_folder, ref_folders, noise_folder = folders(num_speakers, mix_type)
    mix_dir = split_dir / mix_folder
    ids = sorted(p.stem for p in mix_dir.glob("*.wav"))
    return [Mixture(i, mix_dir / f"{i}.wav", [split_dir / r / f"{i}.wav" for r in ref_folders],
                    split_dir / noise_folder / f"{i}.wav" if noise_folder else None,
                    origin=f"folder {mix_dir}") for i in ids]


def check_files(mixtures: Sequence[Mixture]) -> None:
    """Every mixture, reference and noise file exists; else name the first missing one.

    One listing per folder instead of a stat per file: far faster on network file systems."""
    listings: dict[Path, set[str]] = {}

    def exists(path: Path) -> bool:
        if path.parent not in listings:
            listings[path.parent] = set(os.listdir(path.parent)) if path.parent.is_dir() else set()
        return path.name in listings[path.parent]

    for m in mixtures:
        roles = [("mixture", m.mix)] + [(f"source {k + 1}", p) for k, p in enumerate(m.refs)]
        roles += [("noise", m.noise)] if m.noise else []
        for role, path in roles:
            if not exists(path):
                note = "" if path.parent.is_dir() else f" (no folder {path.parent})"
                raise DataDirError(f"{path}: {role} file of mixture '{m.id}' not found{note}; "
                                   f"mixture listed in {m.origin}")


def check_sample_rate(mixture: Mixture, sample_rate: int) -> None:
    """The first mixture's header rate matches the folder's: catches a mislabelled tree."""
    try:
        rate = sf.info(str(mixture.mix)).samplerate
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise AudioError(f"mixture '{mixture.id}' ({mixture.mix}): cannot read the header: "
                         f"{e}") from None
    if rate != sample_rate:
        raise DataDirError(f"{mixture.mix}: sample rate {rate} Hz, expected {sample_rate} Hz")


def fill_durations(mixtures: Sequence[Mixture], num_workers: int) -> None:
    todo = [m for m in mixtures if m.duration is None]
    with ThreadPoolExecutor(max_workers=max(1, num_workers)) as pool:  # header reads wait on disk
        for m, dur in zip(todo, pool.map(lambda m: audio_duration(str(m.mix), m.id), todo),
                          strict=True):
            m.duration = round(dur, 4)


def write_separation_dir(out: Path, mixtures: Sequence[Mixture]) -> DataDir:
    """``wav.scp``, ``spk<k>.scp``, ``noise1.scp``, ``utt2spk`` (-> itself), ``spk2utt``,
    ``utt2dur``. Reference and noise files of an earlier run with more of them are removed, so a
    rerun with another mix type or task never leaves a stale ``spk2.scp`` or ``noise1.scp``."""
    num_refs = len(mixtures[0].refs)
    with_noise = mixtures[0].noise is not None
    d = DataDir(path=out, wav_scp={m.id: str(m.mix) for m in mixtures},
                utt2spk={m.id: m.id for m in mixtures},
                utt2dur={m.id: float(m.duration or 0.0) for m in mixtures})
    d.extra = {f"spk{k + 1}.scp": {m.id: str(m.refs[k]) for m in mixtures}
               for k in range(num_refs)}
    if with_noise:
        d.extra["noise1.scp"] = {m.id: str(m.noise) for m in mixtures}
    d.write()
    for scp in list(out.glob("spk*.scp")) + list(out.glob("noise*.scp")):
        if scp.name not in d.extra:
            scp.unlink()
    return d


def _mixtures_of_split(base: Path, split: str, num_speakers: int, mix_type: str,
                       sample_rate: int, num_workers: int) -> list[Mixture]:
    split_dir = base / split
    csv_path = metadata_csv(base, split, mix_type)
    if csv_path.is_file():
        mixtures = read_metadata(csv_path, split_dir, num_speakers, mix_type, sample_rate)
        listed = {p.stem for p in (split_dir / folders(num_speakers, mix_type)[0]).glob("*.wav")}
        unlisted = len(listed - {m.id for m in mixtures})
        if unlisted:
            log.warning("%s: %d wav file(s) in the mixture folder are not in %s: ignored",
                        split_dir, unlisted, csv_path)
        source = csv_path
    else:
        mixtures = list_mixtures(split_dir, num_speakers, mix_type)
        source = split_dir / folders(num_speakers, mix_type)[0]
    if not mixtures:
        raise DataDirError(f"{source}: no mixtures (and no metadata CSV {csv_path})")
    check_files(mixtures)
    check_sample_rate(mixtures[0], sample_rate)
    fill_durations(mixtures, num_workers)
    log.info("%s: %d mixtures from %s", split_dir, len(mixtures), source)
    return mixtures


def prepare(
    root: str | Path,
    out: str | Path,
    num_speakers: int = 2,
    sample_rate: int = 8000,
    mode: str = "min",
    mix_type: str = "clean",
    splits: Sequence[str] | None = None,
    num_workers: int = min(8, os.cpu_count() or 1),
) -> dict[str, DataDir]:
    """Write ``out/<split with _>/`` for each split; returns them by split folder name.

    ``root`` holds ``Libri<N>Mix`` (or is it). ``splits`` default: every one of ``SPLITS``
    generated under ``Libri<N>Mix/wav<k>k/<mode>``. Every split is read and checked before
    anything is written.
    """
    mix_type = mix_type.removeprefix("mix_")
    if mix_type not in MIX_TYPES:
        raise ValueError(f"mix type '{mix_type}': expected one of {MIX_TYPES}")
    if mode not in MODES:
        raise ValueError(f"mode '{mode}': expected one of {MODES}")
    if num_speakers < 2:
        raise ValueError(f"num_speakers {num_speakers}: LibriMix has 2 or more speakers")
    base = mode_dir(Path(root).resolve(), num_speakers, sample_rate, mode)
    present = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    if splits is None:
        splits = [s for s in SPLITS if s in present]
        if not splits:
            raise DataDirError(f"{base}: no LibriMix split folder {list(SPLITS)} "
                               f"(found: {present or 'none'})")
    missing = [s for s in splits if s not in present]
    if missing:
        raise DataDirError(f"{base / missing[0]}: split '{missing[0]}' not found "
                           f"(splits present in {base}: {present or 'none'})")
    found = {s: _mixtures_of_split(base, s, num_speakers, mix_type, sample_rate, num_workers)
             for s in splits}
    dirs = {}
    for split, mixtures in found.items():
        dirs[split] = write_separation_dir(Path(out) / data_dir_name(split), mixtures)
        log.info("%s: %d mixtures", dirs[split].path, len(mixtures))
    return dirs

