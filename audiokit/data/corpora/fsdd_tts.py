"""Digit-string data dirs of one FSDD speaker (or several) for speech synthesis.

    python -m audiokit.data.corpora.fsdd_tts --root $FSDD_ROOT --out data --speaker jackson
    python -m audiokit.data.corpora.fsdd_tts ... --speakers jackson,theo,george   # multi-speaker

With several speakers, every count is per speaker and every string is one speaker's
recordings (``utt2spk`` names the speaker); a test sequence is new to every speaker's
training strings.

- ``train``: strings of 1-6 digits joined from the speaker's recordings of index 10-49
  (:func:`audiokit.data.corpora.fsdd_strings.make_strings`);
- ``valid``: strings from index 5-9;
- ``test``: strings from index 0-4 whose digit sequence occurs neither in ``train`` nor
  earlier in ``test`` (NEW sequences: synthesis of text the model never saw), each with
  its recording as the reference.

Deterministic given the seed; a second run writes the same files.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

from audiokit.data.corpora.fsdd import load_recordings
from audiokit.data.corpora.fsdd_strings import make_strings
from audiokit.data.datadir import DataDir, DataDirError

log = logging.getLogger(__name__)

SPLITS = {"train": (10, 50), "valid": (5, 10), "test": (0, 5)}


def _subset(d: DataDir, keep: list[str]) -> DataDir:
    out = DataDir(path=d.path, wav_scp={u: d.wav_scp[u] for u in keep},
                  text={u: d.text[u] for u in keep}, utt2spk={u: d.utt2spk[u] for u in keep},
                  utt2dur={u: d.utt2dur[u] for u in keep})
    for utt in set(d.wav_scp) - set(keep):
        Path(d.wav_scp[utt]).unlink(missing_ok=True)
    for name in ("wav.scp", "text", "utt2spk", "spk2utt", "utt2dur"):
        (d.path / name).unlink(missing_ok=True)
    out.write()
    return out


def prepare(root: Path | None, out: Path, speaker: str | list[str], train_count: int = 1000,
            valid_count: int = 40, test_count: int = 300, seed: int = 1,
            max_digits: int = 6, download_dir: Path | None = None) -> dict[str, DataDir]:
    speakers = [speaker] if isinstance(speaker, str) else list(speaker)
    root, recordings = load_recordings(root, out, speakers, download_dir)
    pools = {name: [r for r in recordings if lo <= r.index < hi] for name, (lo, hi) in SPLITS.items()}
    for name, pool in pools.items():
        for spk in speakers:
            if not any(r.speaker == spk for r in pool):
                raise DataDirError(f"{root}: no recordings of {spk} for split '{name}' {SPLITS[name]}")
    dirs = {}
    for offset, (name, count) in enumerate((("train", train_count), ("valid", valid_count))):
        shutil.rmtree(out / name, ignore_errors=True)
        dirs[name] = make_strings(pools[name], out / name, count, seed + 1000 * offset,
                                  max_digits=max_digits)
    # draw more test strings than needed, keep the first `test_count` NEW sequences
    shutil.rmtree(out / "test", ignore_errors=True)
    drawn = make_strings(pools["test"], out / "test", 4 * test_count, seed + 2000,
                         min_digits=2, max_digits=max_digits)
    keep = []
    for spk in speakers:  # test_count new sequences per speaker
        seen = set(dirs["train"].text.values())
        mine = [u for u in drawn.utt_ids if drawn.utt2spk[u] == spk]
        kept = []
        for utt in mine:
            if len(kept) < test_count and drawn.text[utt] not in seen:
                seen.add(drawn.text[utt])
                kept.append(utt)
        if len(kept) < test_count:
            raise DataDirError(f"{out}/test: only {len(kept)} new digit sequences of {2}-{max_digits} "
                               f"digits in {4 * test_count} draws of {spk}; ask for fewer test strings")
        keep += kept
    dirs["test"] = _subset(drawn, keep)
    for name, d in dirs.items():
        log.info("%s: %d strings", out / name, len(d.wav_scp))
        print(f"fsdd_tts: {out / name}: {len(d.wav_scp)} strings of {', '.join(speakers)}")
    return dirs


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m audiokit.data.corpora.fsdd_tts", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=None, help="FSDD root (default: download)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--speaker", default="jackson")
    p.add_argument("--speakers", default=None, help="comma-separated speakers (multi-speaker; "
                   "replaces --speaker)")
    p.add_argument("--train-count", type=int, default=1000)
    p.add_argument("--valid-count", type=int, default=40)
    p.add_argument("--test-count", type=int, default=300)
    p.add_argument("--max-digits", type=int, default=6)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--download-dir", type=Path, default=None)
    a = p.parse_args(argv)
    try:
        speakers = [s for s in a.speakers.split(",") if s] if a.speakers else a.speaker
        prepare(a.root, a.out, speakers, a.train_count, a.valid_count, a.test_count, a.seed,
                a.max_digits, a.download_dir)
    except DataDirError as e:
        raise SystemExit(f"fsdd_tts: error: {e}") from None


if __name__ == "__main__":
    main()
