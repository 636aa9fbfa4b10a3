"""Data dirs of MIDI (``midi.scp``) -> ``events`` files (``id on60 shift4 off60 ...``).

Every dir is tokenized on the same grid, and the token dir (``tokens.txt``, ``tokenizer.json``
with the grid) is written beside, for the training config's ``paths.token_dir``. A MIDI file
that cannot be read is named in ``DIR/skipped_midi`` and left out (``on_bad_midi=skip``), or
stops the stage (``error``, the default).
"""

from __future__ import annotations

import logging
from pathlib import Path

from audiokit.data.datadir import read_kaldi_map
from audiokit.music.events import EventConfig, encode, write_token_dir
from audiokit.music.midi_io import MidiError, read_midi

log = logging.getLogger(__name__)


def tokenize_dirs(dirs: list[str | Path], token_dir: str | Path, cfg: EventConfig,
                  on_bad_midi: str = "error") -> dict[str, dict[str, int]]:
    if on_bad_midi not in ("error", "skip"):
        raise ValueError(f"on_bad_midi must be error or skip, got {on_bad_midi!r}")
    write_token_dir(token_dir, cfg)
    summary = {}
    for d in map(Path, dirs):
        scp = d / "midi.scp"
        if not scp.is_file():
            raise FileNotFoundError(f"{scp}: no such file (a music data dir lists its MIDI there)")
        lines, bad = [], {}
        for pid, path in read_kaldi_map(scp).items():
            try:
                events = encode(read_midi(path, cfg), cfg)
            except MidiError as e:
                if on_bad_midi == "error":
                    raise MidiError(f"{scp}: piece '{pid}': {e}") from None
                bad[pid] = str(e)
                log.warning("%s: piece '%s': %s: skipped", scp, pid, e)
                continue
            if not events:
                bad[pid] = f"{path}: no notes"
                log.warning("%s: piece '%s': %s has no notes: skipped", scp, pid, path)
                continue
            lines.append(f"{pid} {' '.join(events)}\n")
        (d / "events").write_text("".join(lines), encoding="utf-8")
        (d / "skipped_midi").write_text("".join(f"{k} {v}\n" for k, v in bad.items()))
        summary[str(d)] = {"pieces": len(lines), "skipped": len(bad),
                           "events": sum(len(x.split()) - 1 for x in lines)}
    return summary
