"""Inference that can be continued: a journal of finished utterances, and atomic output files.

``audiokit-infer`` keeps ``O/infer_journal.jsonl`` while it runs: a header line with what the
run is (experiment, ``model.pt`` hash, data dir, settings) and then one JSON line per batch
with the results of its utterances, appended, flushed and fsynced before the next batch
starts. Per-utterance files (wavs, codes) are written under a temp name in the same folder and
renamed into place (:func:`atomic_file`), so a kill never leaves a truncated file under its
final name, and an utterance is journaled only after its files are in place.

A rerun into the same output dir reads the journal, skips the utterances it lists (whose
files are all there), runs the rest, and writes the index files from all the results, as an
uninterrupted run would; the journal is removed at the end. A journal of another run (another
model, data dir or setting) is an error naming the difference: continuing would mix outputs.
A finished output dir has no journal, so running into it again computes everything anew (as
ESPnet's and NeMo's inference scripts do).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np
import soundfile as sf

from audiokit.utils.errors import UserError

JOURNAL = "infer_journal.jsonl"
VERSION = 1
# The files of a data dir that say which utterances there are and what they hold.
DATA_FILES = ("wav.scp", "segments", "text", "codes.scp", "events", "midi.scp", "utt2spk",
              "reco2num_spk", "trials", "utt2prompt")
# Options that change how a run goes, not what it writes: free to differ when continuing
# (e.g. a smaller max_batch_seconds after running out of GPU memory).
# on_bad_audio only decides whether a bad file stops the run, before any utterance is done.
HOW_OPTIONS = ("exp_dir", "data_dir", "output_dir", "device", "num_workers", "max_batch_seconds",
               "overwrite", "on_bad_audio")


class ProgressMismatch(UserError):
    """The output dir holds a partial run of something else."""


class OutputWriteError(OSError):
    """An output file or the journal could not be written (disk full, no permission)."""


def _write_error(path: Path, e: OSError) -> OutputWriteError:
    reason = e.strerror or (os.strerror(e.errno) if e.errno else str(e))
    err = OutputWriteError(f"cannot write {path}: {reason}; the utterances finished so far are "
                           "kept: free some space (or fix the permissions) and run the same "
                           "command again to continue")
    err.errno = e.errno
    return err


# ------------------------------------------------------------------------ atomic files

@contextmanager
def atomic_file(path: str | Path) -> Iterator[IO[bytes]]:
    """Open ``<path>.tmp`` (same folder, so the rename stays on one file system) for writing;
    on success it is flushed, fsynced and renamed over ``path``; on any error it is removed
    and ``path`` is left as it was."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())  # a full disk fails here, not after the rename
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise _write_error(path, e) from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# libsndfile's command to leave out the PEAK chunk (sndfile.h); soundfile does not wrap it.
SFC_SET_ADD_PEAK_CHUNK = 0x1050


def write_wav(path: str | Path, audio, sample_rate: int) -> str:
    """A float WAV (float keeps the level: PCM would clip above full scale), atomically;
    returns the absolute path (what the scp files list).

    Without the PEAK chunk libsndfile adds to float files: it holds the time of writing, so
    the same audio written a second later would give other bytes (and other checksums).
    """
    path = Path(path)
    audio = np.asarray(audio)
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    with atomic_file(path) as f, sf.SoundFile(f, "w", sample_rate, channels, "FLOAT",
                                               format="WAV") as wav:
        try:
            sf._snd.sf_command(wav._file, SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
        except AttributeError:  # soundfile's internals moved: a PEAK chunk does no harm
            pass
        wav.write(audio)
    return str(path.resolve())


def save_npy(path: str | Path, array: np.ndarray) -> str:
    path = Path(path)
    with atomic_file(path) as f:
        np.save(f, array, allow_pickle=False)
    return str(path.resolve())


# ------------------------------------------------------------------------ fingerprints

def file_hash(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _flatten(settings: dict, prefix: str = "") -> dict[str, object]:
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def fingerprint(exp_dir: str, data_dir: str, settings: dict) -> dict[str, object]:
    """What a run computes, flat ``{name: value}``: the experiment (path and ``model.pt``
    hash; also of any other experiment a setting names, e.g. ``lm_exp_dir``), the data dir
    (path and the hash of each of its index files) and every setting that changes outputs."""
    found: dict[str, object] = {"exp_dir": str(Path(exp_dir).resolve()),
                                "model.pt": file_hash(Path(exp_dir) / "model.pt"),
                                "data_dir": str(Path(data_dir).resolve())}
    for name in DATA_FILES:
        if (Path(data_dir) / name).is_file():
            found[f"data_dir/{name}"] = file_hash(Path(data_dir) / name)
    flat = _flatten({k: v for k, v in settings.items() if k not in HOW_OPTIONS})
    for key, value in sorted(flat.items()):
        if value in (None, {}, ""):
            continue  # an unset option reads the same however it was left out
        found[key] = value
        other = Path(str(value)) / "model.pt"
        if key.endswith("exp_dir") and other.is_file():
            found[f"{key}/model.pt"] = file_hash(other)
    return json.loads(json.dumps(found, default=str))  # as the journal will read it back


def _short(value: object) -> str:
    text = str(value)
    return text[:12] if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else text


def describe_difference(before: dict, now: dict) -> str:
    parts = []
    for key in sorted(set(before) | set(now), key=lambda k: (k not in ("exp_dir", "model.pt"), k)):
        if before.get(key) != now.get(key):
            was = _short(before[key]) if key in before else "not set"
            is_ = _short(now[key]) if key in now else "not set"
            what = "sha256 " if key.endswith("model.pt") or key.startswith("data_dir/") else ""
            parts.append(f"{key}: {what}{was} then, {is_} now")
    return "; ".join(parts)


# ------------------------------------------------------------------------ the journal

class InferenceProgress:
    """The journal of one output dir (``path=None``: no journal, results kept in memory only,
    as :meth:`process_data_dir` called from Python without one).

    Pipelines call :meth:`begin` with every utterance they will write, compute those it
    returns (the rest are done), :meth:`record` each finished batch ``{utt: result}`` (JSON values), write
    their index files from :attr:`results` and end with :meth:`finish`.
    """

    def __init__(self, output_dir: str | Path, run: dict | None = None, *,
                 journal: bool = True, overwrite: bool = False) -> None:
        self.output_dir = Path(output_dir)
        self.path = self.output_dir / JOURNAL if journal else None
        self.run = run or {}
        self.results: dict[str, object] = {}
        self._files: dict[str, list[str]] = {}
        self._states: dict[str, str] = {}
        self._folders: set[Path] = set()
        self.continuing = False
        if self.path is None:
            return
        if overwrite:
            self.path.unlink(missing_ok=True)
        if self.path.is_file():
            self._read()

    @classmethod
    def memory_only(cls, output_dir: str | Path) -> InferenceProgress:
        return cls(output_dir, journal=False)

    def _read(self) -> None:
        raw = self.path.read_bytes()
        lines, good = raw.split(b"\n"), 0
        records = []
        for line in lines[:-1]:  # the last piece has no newline: a write cut short, or empty
            try:
                records.append(json.loads(line))
            except ValueError:
                break
            good += len(line) + 1
        if len(records) < 2:  # killed before its first batch was done: nothing to continue
            self.path.unlink()
            return
        if records[0].get("version") != VERSION:
            raise ProgressMismatch(
                f"{self.path}: not a journal this audiokit-infer can continue; start over with "
                "overwrite=true or a fresh output_dir")
        before = records[0].get("run", {})
        if before != self.run:
            raise ProgressMismatch(
                f"{self.output_dir} holds a partial run of something else ("
                f"{describe_difference(before, self.run)}); continuing would mix their outputs: "
                "run with overwrite=true to start over there, or give a fresh output_dir")
        if good < len(raw):  # drop a line cut short so the next one starts on its own line
            with open(self.path, "r+b") as f:
                f.truncate(good)
        self.continuing = True
        for record in records[1:]:
            for utt, result in record["results"].items():
                self.results[utt] = result
                self._files[utt] = record.get("files", {}).get(utt, [])
                if "state" in record:
                    self._states[utt] = record["state"]
                self._folders.update(Path(p).parent for p in self._files[utt])

    @property
    def done(self) -> set[str]:
        """Utterances journaled whose files are all still there."""
        return {u for u in self.results if all(Path(p).is_file() for p in self._files.get(u, ()))}

    def begin(self, utts: list[str]) -> list[str]:
        """The utterances of ``utts`` still to do; says how many were done before."""
        done = self.done
        for utt in set(self.results) - done:  # a journaled file has gone: do it again
            del self.results[utt]
        if self.continuing:
            kept = sum(u in done for u in utts)
            print(f"audiokit-infer: continuing in {self.output_dir}: {kept} of {len(utts)} "
                  "utterances already done")
        return [u for u in utts if u not in done]

    def state_after(self, utt: str) -> str | None:
        """The ``state`` journaled with the batch of ``utt`` (e.g. a sampler's random state
        after it), if that batch is journaled."""
        return self._states.get(utt)

    def record(self, results: dict[str, object], files: dict[str, list[str]] | None = None,
               state: str | None = None) -> None:
        """Journal a finished batch: ``{utt: result}``, the files each one wrote (already
        in place) and an optional ``state`` string; one line, flushed and fsynced, so a kill
        keeps it whole or not at all."""
        self.results.update(results)
        if state is not None:
            self._states.update(dict.fromkeys(results, state))
        for paths in (files or {}).values():
            self._folders.update(Path(p).parent for p in paths)
        if self.path is not None:
            line = {"results": results}
            if files:
                line["files"] = files
            if state is not None:
                line["state"] = state
            # the journal starts with the first result: a run stopped by a check before any
            # work (bad audio, bad text) leaves none, and its rerun may change any setting
            header = [] if self.path.is_file() else [{"version": VERSION, "run": self.run}]
            self._write_lines([*header, line])

    def _write_lines(self, records: list[dict]) -> None:
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:  # a line cut short is dropped when the journal is read again
            raise _write_error(self.path, e) from e

    def finish(self) -> None:
        """All index files are written: the journal goes (a rerun computes anew), and so do
        temp files a killed run left in the folders written to."""
        for folder in self._folders:
            for tmp in folder.glob("*.tmp"):
                tmp.unlink(missing_ok=True)
        if self.path is not None:
            self.path.unlink(missing_ok=True)
