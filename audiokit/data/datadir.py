"""Kaldi-style data directories: the interchange format between recipe stages.

A data dir is a folder of small text files, one utterance (or recording) per line:
``wav.scp`` (required), and optionally ``segments``, ``text``, ``utt2spk``, ``spk2utt``,
``utt2dur``, ``utt2label``. Every parse error names the file and the line.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path


class DataDirError(ValueError):
    """A malformed data dir: the message names the file, the line and the utterance."""


# Files whose value is the rest of the line (may contain spaces), keyed by utterance id.
TEXT_FILES = ("text", "utt2spk", "utt2dur", "utt2label")


def read_kaldi_map(path: str | Path, *, allow_empty_value: bool = False) -> dict[str, str]:
    """Read ``key value...`` lines into an ordered dict; bad or duplicate lines are errors."""
    path = Path(path)
    entries: dict[str, str] = {}
    first_line: dict[str, int] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        lineno = path.read_bytes()[: e.start].count(b"\n") + 1
        raise DataDirError(f"{path}:{lineno}: not valid UTF-8 ({e.reason})") from None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        key, _, value = line.strip().partition(" ")
        value = value.strip()
        if not value and not allow_empty_value:
            raise DataDirError(f"{path}:{lineno}: utterance '{key}' has no value: {line!r}")
        if key in entries:
            raise DataDirError(
                f"{path}:{lineno}: duplicate id '{key}' (first seen on line {first_line[key]})"
            )
        entries[key] = value
        first_line[key] = lineno
    return entries


def write_kaldi_map(path: str | Path, entries: dict[str, object]) -> None:
    """Write ``key value`` lines sorted by key (Kaldi's convention), atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for key in sorted(entries):
            value = entries[key]
            if isinstance(value, (list, tuple)):
                value = " ".join(str(v) for v in value)
            f.write(f"{key} {value}\n")
    tmp.replace(path)


@dataclass(frozen=True)
class Segment:
    recording: str
    start: float
    end: float


@dataclass
class DataDir:
    """In-memory view of a data dir. ``utt_ids`` follows wav.scp (or segments) order."""

    path: Path
    wav_scp: dict[str, str]
    segments: dict[str, Segment] | None = None
    text: dict[str, str] | None = None
    utt2spk: dict[str, str] | None = None
    utt2dur: dict[str, float] | None = None
    utt2label: dict[str, list[str]] | None = None
    extra: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def utt_ids(self) -> list[str]:
        return list(self.segments if self.segments is not None else self.wav_scp)

    def __len__(self) -> int:
        return len(self.utt_ids)

    def audio_source(self, utt: str) -> tuple[str, float | None, float | None]:
        """(wav.scp entry, start seconds, end seconds) of an utterance."""
        if self.segments is not None:
            seg = self.segments[utt]
            return self.wav_scp[seg.recording], seg.start, seg.end
        return self.wav_scp[utt], None, None

    def label_map(self, name: str = "utt2label") -> dict[str, list[str]] | None:
        """Class labels per utterance from ``utt2label``, the speaker from ``utt2spk``
        (speaker-recognition training classifies speakers), or any other ``utt2<fact>`` file
        of the dir (e.g. ``utt2timbre`` of rendered music: one judge per fact); None if the
        file is absent."""
        if name == "utt2label":
            return self.utt2label
        if name == "utt2spk":
            return {u: [s] for u, s in self.utt2spk.items()} if self.utt2spk else None
        if not name.startswith("utt2") or "/" in name or name in TEXT_FILES:
            raise ValueError(f"label file must be utt2label, utt2spk or another utt2<name> "
                             f"file, got {name!r}")
        if not (self.path / name).is_file():
            return None
        entries = read_kaldi_map(self.path / name)
        utts = set(self.utt_ids)
        unknown = [u for u in entries if u not in utts]
        missing = [u for u in self.utt_ids if u not in entries]
        if unknown or missing:
            raise DataDirError(f"{self.path / name}: {len(unknown)} id(s) not in wav.scp/segments "
                               f"(e.g. {unknown[:1]}), {len(missing)} utterance(s) missing "
                               f"(e.g. {missing[:1]})")
        return {u: v.split() for u, v in entries.items()}

    def spk2utt(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = defaultdict(list)
        for utt, spk in (self.utt2spk or {}).items():
            groups[spk].append(utt)
        return dict(groups)

    # ------------------------------------------------------------------ I/O
    @classmethod
    def load(cls, path: str | Path) -> DataDir:
        """Read and cross-check a data dir; raises :class:`DataDirError` naming what is wrong."""
        path = Path(path)
        if not (path / "wav.scp").is_file():
            raise DataDirError(f"{path}: not a data dir (no wav.scp)")
        wav_scp = read_kaldi_map(path / "wav.scp")
        segments = None
        if (path / "segments").is_file():
            segments = {}
            for utt, value in read_kaldi_map(path / "segments").items():
                fields = value.split()
                try:
                    reco, start, end = fields[0], float(fields[1]), float(fields[2])
                except (IndexError, ValueError):
                    raise DataDirError(
                        f"{path / 'segments'}: utterance '{utt}': expected "
                        f"'utt reco start end', got {value!r}"
                    ) from None
                if reco not in wav_scp:
                    raise DataDirError(
                        f"{path / 'segments'}: utterance '{utt}' names recording '{reco}' "
                        f"missing from {path / 'wav.scp'}"
                    )
                if not 0 <= start < end:
                    raise DataDirError(
                        f"{path / 'segments'}: utterance '{utt}': bad times {start}..{end}"
                    )
                segments[utt] = Segment(reco, start, end)
        d = cls(path=path, wav_scp=wav_scp, segments=segments)
        utts = set(d.utt_ids)
        # text may legitimately be empty for an utterance (silence); the others may not.
        for name in TEXT_FILES:
            if (path / name).is_file():
                entries = read_kaldi_map(path / name, allow_empty_value=(name == "text"))
                unknown = [u for u in entries if u not in utts]
                if unknown:
                    raise DataDirError(
                        f"{path / name}: {len(unknown)} id(s) not in wav.scp/segments, "
                        f"e.g. '{unknown[0]}'"
                    )
                missing = [u for u in d.utt_ids if u not in entries]
                if missing:
                    raise DataDirError(
                        f"{path / name}: {len(missing)} utterance(s) missing, e.g. '{missing[0]}'"
                    )
                setattr(d, name, entries)
        if d.utt2dur is not None:
            d.utt2dur = {u: parse_float(path / "utt2dur", u, v) for u, v in d.utt2dur.items()}
        if d.utt2label is not None:
            d.utt2label = {u: v.split() for u, v in d.utt2label.items()}
        return d

    def write(self, path: str | Path | None = None) -> Path:
        """Write every present file (and spk2utt from utt2spk) to ``path`` (default: own)."""
        path = Path(path or self.path)
        path.mkdir(parents=True, exist_ok=True)
        write_kaldi_map(path / "wav.scp", self.wav_scp)
        if self.segments is not None:
            write_kaldi_map(
                path / "segments",
                {u: f"{s.recording} {s.start:.3f} {s.end:.3f}" for u, s in self.segments.items()},
            )
        if self.text is not None:
            write_kaldi_map(path / "text", self.text)
        if self.utt2spk is not None:
            write_kaldi_map(path / "utt2spk", self.utt2spk)
            write_kaldi_map(path / "spk2utt", {s: sorted(u) for s, u in self.spk2utt().items()})
        if self.utt2dur is not None:
            write_kaldi_map(path / "utt2dur", {u: f"{d:.4f}" for u, d in self.utt2dur.items()})
        if self.utt2label is not None:
            write_kaldi_map(path / "utt2label", self.utt2label)
        for name, entries in self.extra.items():
            write_kaldi_map(path / name, entries)
        return path


def parse_float(file: Path, utt: str, value: str) -> float:
    """``value`` (read from ``file`` for ``utt``) as a number; a bad one names both."""
    try:
        return float(value)
    except ValueError:
        raise DataDirError(f"{file}: utterance '{utt}': not a number: {value!r}") from None


def read_list(path: str | Path) -> list[str]:
    """One item per line (label lists, token lists); blank lines are ignored."""
    return [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def write_list(path: str | Path, items: list[str]) -> None:
    Path(path).write_text("".join(f"{item}\n" for item in items), encoding="utf-8")
