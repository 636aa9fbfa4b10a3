"""Check every utterance of a data dir before training touches it.

Training must never die deep inside a DataLoader worker on a bad file: this pass reads each
utterance once, and reports (utterance, file, reason) for every problem it finds.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from audiokit.data.audio import DOWNMIX_HINT, AudioError, audio_info, load_audio
from audiokit.data.datadir import DataDir, DataDirError

log = logging.getLogger(__name__)


# libsndfile's header report for a WAV whose data chunk is shorter than its header says.
_DATA_CUT = re.compile(r"^data : (\d+) \(should be (\d+)\)", re.MULTILINE)
_UNKNOWN_SIZES = (0, 0xFFFFFFFF, 0x7FFFFFFF)  # streaming writers leave the size unset


def truncation(info) -> str | None:
    """'truncated: ...' when a WAV header promises more audio than the file holds (a copy
    cut short), else None. libsndfile reads such a file without complaint, shorter."""
    match = _DATA_CUT.search(getattr(info, "extra_info", "") or "")
    if match is None:
        return None
    declared, present = int(match.group(1)), int(match.group(2))
    if declared in _UNKNOWN_SIZES or present >= declared:
        return None
    return f"truncated: the header declares {declared} bytes of audio, the file holds {present}"


SEGMENT_SLACK = 0.05  # seconds: segments files round times to 10 ms, headers count samples


@dataclass(frozen=True)
class Problem:
    utt: str
    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.utt}\t{self.source}\t{self.reason}"


def check_utterance(d: DataDir, utt: str, sample_rate: int | None, downmix: bool,
                    expect_rate: int | None = None,
                    rates: dict[str, int] | None = None) -> Problem | None:
    """The problem with one utterance, or None. The header is always read (missing, empty,
    unreadable, channels, and with ``expect_rate`` the file's rate); with ``sample_rate`` the
    audio is decoded too (NaN/Inf, truncated data)."""
    source, start, end = d.audio_source(utt)
    try:
        info = audio_info(source, utt)
        if rates is not None:
            rates[utt] = info.samplerate
        where = f"utterance '{utt}' ({source})"
        if info.frames <= 0:
            raise AudioError(f"{where}: empty audio (0 samples)")
        if (cut := truncation(info)) is not None:
            raise AudioError(f"{where}: {cut}")
        # a segment past the recording's end would be read shorter without a word
        if end is not None and end > info.duration + SEGMENT_SLACK:
            raise AudioError(f"{where}: segment {start:.2f}-{end:.2f} s ends after the "
                             f"recording ({info.duration:.2f} s)")
        wrong = []  # what the experiment does not expect: both named when both are wrong
        if expect_rate is not None and info.samplerate != expect_rate:
            wrong.append(f"sample rate {info.samplerate} Hz, the experiment expects "
                         f"{expect_rate} Hz")
        if info.channels != 1 and not downmix:
            wrong.append(f"{info.channels} channels, expected mono ({DOWNMIX_HINT})")
        if wrong:
            raise AudioError(f"{where}: {'; '.join(wrong)}")
        if sample_rate is not None:  # full decode: also catches NaN/Inf, truncated data
            load_audio(source, sample_rate, utt=utt, start=start, end=end, downmix=downmix)
    except AudioError as e:
        return Problem(utt, source, str(e).split("): ", 1)[-1])
    return None


def find_problems(
    d: DataDir, sample_rate: int | None = None, downmix: bool = False, workers: int = 4,
    expect_rate: int | None = None, rates: dict[str, int] | None = None,
) -> list[Problem]:
    """Every problem in the data dir, in utterance order (an empty list means clean);
    ``rates`` receives each readable file's sample rate."""
    with ThreadPoolExecutor(workers) as pool:
        found = pool.map(
            lambda u: check_utterance(d, u, sample_rate, downmix, expect_rate, rates), d.utt_ids)
        return [p for p in found if p is not None]


def write_report(problems: list[Problem], path: str | Path) -> None:
    Path(path).write_text("".join(f"{p}\n" for p in problems), encoding="utf-8")


def screen_bad_audio(
    data_dir: str | Path, on_bad_audio: str, *, downmix: bool = False,
    report: Path | None = None, skip_hint: str = "on_bad_audio=skip",
    sample_rate: int | None = None,
) -> dict[str, str]:
    """Check a data dir before use (headers: missing, empty, unreadable, truncated, channels).
    ``on_bad_audio="error"`` raises :class:`DataDirError` listing the bad utterances and
    files; ``"skip"`` warns and returns ``{utt: reason}`` for the caller to leave out.
    ``report`` receives the full list either way. Files at another rate than ``sample_rate``
    (what the experiment reads) are named in a warning: they are resampled on every load."""
    if on_bad_audio not in ("error", "skip"):
        raise ValueError(f"on_bad_audio must be 'error' or 'skip', got {on_bad_audio!r}")
    rates: dict[str, int] = {}
    d = DataDir.load(data_dir)
    problems = find_problems(d, downmix=downmix, rates=rates)
    bad = {p.utt for p in problems}
    other = {u: rates[u] for u in d.utt_ids if u in rates and u not in bad
             and sample_rate is not None and rates[u] != sample_rate}
    if other:
        examples = ", ".join(f"{u} ({r} Hz)" for u, r in list(other.items())[:5])
        log.warning("%s: %d file(s) are not at the experiment's %d Hz and are resampled on "
                    "every load (resample them once to save time): %s", data_dir, len(other),
                    sample_rate, examples)
    if not problems:
        return {}
    listing = "\n".join(f"  {p}" for p in problems[:20])
    if len(problems) > 20:
        listing += f"\n  ... and {len(problems) - 20} more"
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        write_report(problems, report)
        listing += f"\n  (full list: {report})"
    if on_bad_audio == "error":
        raise DataDirError(f"{data_dir}: {len(problems)} utterance(s) with bad audio "
                           f"(set {skip_hint} to leave them out):\n{listing}")
    log.warning("%s: skipping %d utterance(s) with bad audio:\n%s", data_dir, len(problems), listing)
    return {p.utt: p.reason for p in problems}
