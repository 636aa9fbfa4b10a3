"""Check every utterance of a data dir before training touches it.

Training must never die deep inside a DataLoader worker on a bad file: this pass reads each
utterance once, and reports (utterance, file, reason) for every problem it finds.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from audiokit.data.audio import AudioError, audio_duration, load_audio
from audiokit.data.datadir import DataDir


@dataclass(frozen=True)
class Problem:
    utt: str
    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.utt}\t{self.source}\t{self.reason}"


def check_utterance(d: DataDir, utt: str, sample_rate: int | None, downmix: bool) -> Problem | None:
    source, start, end = d.audio_source(utt)
    try:
        if sample_rate is None:  # header only: fast, catches missing and unreadable files
            if audio_duration(source, utt) <= 0:
                raise AudioError(f"utterance '{utt}' ({source}): empty audio (0 samples)")
        else:  # full decode: also catches NaN/Inf, channel count, truncated data
            load_audio(source, sample_rate, utt=utt, start=start, end=end, downmix=downmix)
    except AudioError as e:
        return Problem(utt, source, str(e).split(": ", 1)[-1])
    return None


def find_problems(
    d: DataDir, sample_rate: int | None = None, downmix: bool = False, workers: int = 4
) -> list[Problem]:
    """Every problem in the data dir, in utterance order (an empty list means clean)."""
    with ThreadPoolExecutor(workers) as pool:
        found = pool.map(lambda u: check_utterance(d, u, sample_rate, downmix), d.utt_ids)
        return [p for p in found if p is not None]


def write_report(problems: list[Problem], path: str | Path) -> None:
    Path(path).write_text("".join(f"{p}\n" for p in problems), encoding="utf-8")
