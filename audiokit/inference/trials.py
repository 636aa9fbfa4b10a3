"""Speaker-verification files: trial lists, embeddings (.npz) and score files."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from audiokit.data.datadir import DataDirError

_OUR_LABELS = {"target": True, "nontarget": False}
_VOX_LABELS = {"1": True, "0": False}
_AUDIO_EXT = re.compile(r"\.(wav|flac|m4a|mp3|ogg|sph)$", re.IGNORECASE)


class Trial(NamedTuple):
    """One verification trial; ``target`` is None in an unlabelled list (scoring only)."""

    enroll: str
    test: str
    target: bool | None = None


def voxceleb_utt_id(path: str) -> str:
    """Utterance id of a VoxCeleb trial path: drop the audio extension, ``/`` becomes ``-``.

    ``id10270/x6uYqmx31kE/00001.wav`` -> ``id10270-x6uYqmx31kE-00001``, the id Kaldi's and
    our VoxCeleb data preparation give that file (speaker-video-segment).
    """
    return _AUDIO_EXT.sub("", path).replace("/", "-")


def read_trials(
    path: str | Path,
    known_utts: Collection[str] | None = None,
    utt_id_fn: Callable[[str], str] = voxceleb_utt_id,
) -> list[Trial]:
    """Read a trial list in any of three formats (detected from the first non-blank line):

    - ours (``trials`` in a data dir): ``enroll_utt test_utt target|nontarget``;
    - VoxCeleb: ``1 id10270/x6uYqmx31kE/00001.wav id10270/8jEAjG6SegY/00008.wav`` (label
      first, 1 target / 0 nontarget); both paths go through ``utt_id_fn``
      (default :func:`voxceleb_utt_id`);
    - unlabelled: ``enroll_utt test_utt`` (``target`` is None), for pure scoring.

    Detection: two fields -> unlabelled; three with a number first and no
    ``target``/``nontarget`` last -> VoxCeleb; otherwise ours.
    A line that does not fit the file's format is a :class:`DataDirError` naming the file and
    line. With ``known_utts`` (e.g. a data dir's ``utt_ids``), the first trial naming an
    utterance outside it is an error too.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataDirError(f"{path}: trial list not found") from None
    trials: list[Trial] = []
    linenos: list[int] = []
    fmt: str | None = None
    for lineno, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if fmt is None:
            fmt = _detect_format(fields)
        trials.append(_parse_line(fields, fmt, utt_id_fn, f"{path}:{lineno}"))
        linenos.append(lineno)
    if not trials:
        raise DataDirError(f"{path}: no trials")
    if known_utts is not None:
        _check_known(path, lines, trials, linenos, known_utts)
    return trials


def _detect_format(fields: list[str]) -> str:
    if len(fields) == 2:
        return "unlabelled"
    if len(fields) == 3 and fields[0].isdigit() and fields[2] not in _OUR_LABELS:
        return "voxceleb"
    return "ours"


_EXPECTED = {
    "ours": "'enroll_utt test_utt target|nontarget'",
    "voxceleb": "'1|0 enroll.wav test.wav' (VoxCeleb format)",
    "unlabelled": "'enroll_utt test_utt' (unlabelled, as the first line)",
}


def _parse_line(fields: list[str], fmt: str, utt_id_fn: Callable[[str], str], where: str) -> Trial:
    want = 2 if fmt == "unlabelled" else 3
    if len(fields) != want:
        raise DataDirError(
            f"{where}: expected {want} fields {_EXPECTED[fmt]}, got {len(fields)}: "
            f"{' '.join(fields)!r}"
        )
    if fmt == "unlabelled":
        return Trial(fields[0], fields[1], None)
    if fmt == "voxceleb":
        label, enroll, test = fields
        if label not in _VOX_LABELS:
            raise DataDirError(f"{where}: bad label '{label}' (expected 1 or 0)")
        return Trial(utt_id_fn(enroll), utt_id_fn(test), _VOX_LABELS[label])
    enroll, test, label = fields
    if label not in _OUR_LABELS:
        raise DataDirError(f"{where}: bad label '{label}' (expected target or nontarget)")
    return Trial(enroll, test, _OUR_LABELS[label])


def _check_known(
    path: Path,
    lines: list[str],
    trials: list[Trial],
    linenos: list[int],
    known_utts: Collection[str],
) -> None:
    known = known_utts if isinstance(known_utts, (set, frozenset, dict)) else set(known_utts)
    missing = {u for t in trials for u in (t.enroll, t.test) if u not in known}
    if not missing:
        return
    for trial, lineno in zip(trials, linenos, strict=True):
        for side, utt in (("enroll", trial.enroll), ("test", trial.test)):
            if utt in missing:
                raise DataDirError(
                    f"{path}:{lineno}: {side} utterance '{utt}' is not in the data dir "
                    f"({len(missing)} trial utterance(s) missing in all; "
                    f"line: {lines[lineno - 1].strip()!r})"
                )


def write_trials(path: str | Path, trials: Iterable[Trial]) -> None:
    """Write our format (``enroll test target|nontarget``; two fields when unlabelled)."""
    lines = []
    for t in trials:
        label = "" if t.target is None else (" target" if t.target else " nontarget")
        lines.append(f"{t.enroll} {t.test}{label}\n")
    _write_atomic(Path(path), "".join(lines))


def trial_labels(trials: Sequence[Trial]) -> np.ndarray:
    """``[T]`` int array, 1 target / 0 nontarget; an unlabelled trial is an error."""
    if any(t.target is None for t in trials):
        raise ValueError("trial list has no labels: it can be scored but not evaluated")
    return np.array([int(t.target) for t in trials], dtype=np.int64)


# ------------------------------------------------------------------ embeddings
def write_embeddings(path: str | Path, embeddings: dict[str, np.ndarray]) -> None:
    """Save ``{utt_id: [D] vector}`` as an uncompressed ``.npz`` (one array per utterance, the
    key is the utterance id), atomically. ``numpy.load`` reads it anywhere, without pickle."""
    if not embeddings:
        raise ValueError("no embeddings to write")
    dims = {np.shape(v) for v in embeddings.values()}
    if len(dims) != 1 or len(next(iter(dims))) != 1:
        raise ValueError(f"embeddings must all be 1-D of the same size, got shapes {sorted(dims)}")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    # The zip of .npy members np.savez writes, by hand so any utterance id is a valid key
    # (np.savez reserves 'file' and 'allow_pickle') and no '.npz' is appended to the name.
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for utt, vec in embeddings.items():
            with zf.open(f"{utt}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(vec, dtype=np.float32), allow_pickle=False)
    tmp.replace(path)


def read_embeddings(path: str | Path) -> dict[str, np.ndarray]:
    """Load an ``.npz`` written by :func:`write_embeddings` (order preserved)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: embeddings file not found")
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def stack_embeddings(embeddings: dict[str, np.ndarray], utts: Sequence[str]) -> np.ndarray:
    """``[len(utts), D]`` float64 matrix; a missing utterance is a KeyError naming it."""
    missing = [u for u in utts if u not in embeddings]
    if missing:
        raise KeyError(f"no embedding for utterance '{missing[0]}' ({len(set(missing))} missing)")
    return np.stack([np.asarray(embeddings[u], dtype=np.float64) for u in utts])


# ------------------------------------------------------------------ scores
def write_scores(path: str | Path, trials: Sequence[Trial], scores: Sequence[float]) -> None:
    """Write ``enroll test score`` lines in trial order (score with 6 decimals)."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(trials) != scores.size:
        raise ValueError(f"{len(trials)} trials but {scores.size} scores")
    bad = np.flatnonzero(~np.isfinite(scores))
    if bad.size:  # a NaN written now would only fail later, in scoring
        t = trials[int(bad[0])]
        raise ValueError(f"score of trial '{t[0]} {t[1]}' is {scores[bad[0]]} ({bad.size} bad)")
    text = "".join(f"{t[0]} {t[1]} {s:.6f}\n" for t, s in zip(trials, scores, strict=True))
    _write_atomic(Path(path), text)


def read_scores(path: str | Path) -> tuple[list[tuple[str, str]], np.ndarray]:
    """Read a ``scores`` file: ``([(enroll, test), ...], scores [T])``; errors name the line."""
    path = Path(path)
    pairs: list[tuple[str, str]] = []
    values: list[float] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3:
            raise DataDirError(f"{path}:{lineno}: expected 'enroll test score', got {line!r}")
        try:
            value = float(fields[2])
        except ValueError:
            raise DataDirError(f"{path}:{lineno}: score is not a number: {fields[2]!r}") from None
        pairs.append((fields[0], fields[1]))
        values.append(value)
    return pairs, np.asarray(values, dtype=np.float64)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
