"""The MAESTRO layout (MIDI files + ``maestro-v3.0.0.csv``) -> train/valid/test MIDI lists.

The CSV's ``split`` column (train, validation, test) is the split, as published;
``midi_filename`` is relative to the root. A listed file that is missing is named (and with
``skip_missing`` left out and listed in ``OUT/skipped``). Writes ``OUT/{train,valid,test}/
midi.scp``; ``audiokit-prep music-tokens`` then reads the MIDI on a 10 ms grid.
"""

from __future__ import annotations

import csv
from pathlib import Path

SPLIT_NAMES = {"train": "train", "validation": "valid", "test": "test"}
CSV_NAMES = ("maestro-v3.0.0.csv", "maestro-v2.0.0.csv", "maestro-v1.0.0.csv")


def find_csv(root: Path) -> Path:
    for name in CSV_NAMES:
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(f"{root}: no {' / '.join(CSV_NAMES)} (is this the MAESTRO root?)")


def prepare(root: str | Path, out: str | Path, skip_missing: bool = False) -> dict[str, int]:
    root, out = Path(root).resolve(), Path(out).resolve()
    table = find_csv(root)
    lists: dict[str, list[str]] = {s: [] for s in SPLIT_NAMES.values()}
    missing: list[str] = []
    with table.open(newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), 2):
            try:
                split, rel = SPLIT_NAMES[row["split"]], row["midi_filename"]
            except KeyError as e:
                raise ValueError(f"{table}:{line}: no {e} column or an unknown split "
                                 f"{row.get('split')!r} (known: {', '.join(SPLIT_NAMES)})") from None
            path = root / rel
            if not path.is_file():
                if not skip_missing:
                    raise FileNotFoundError(f"{table}:{line}: {path}: no such MIDI file "
                                            "(skip_missing leaves such rows out and lists them)")
                missing.append(rel)
                continue
            piece = Path(rel).with_suffix("").as_posix().replace("/", "_").replace(" ", "_")
            lists[split].append(f"{piece} {path}")
    for split, lines in lists.items():
        (out / split).mkdir(parents=True, exist_ok=True)
        (out / split / "midi.scp").write_text("".join(x + "\n" for x in sorted(lines)))
    (out / "skipped").write_text("".join(f"{m} missing\n" for m in missing))
    return {s: len(v) for s, v in lists.items()}
