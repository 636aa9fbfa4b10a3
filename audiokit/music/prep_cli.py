"""The music stages of ``audiokit-prep``: ``chorales``, ``maestro`` and ``music-tokens``."""

from __future__ import annotations

import argparse
import json
import sys


def cmd_chorales(args: argparse.Namespace) -> None:
    from audiokit.music import chorales

    report = chorales.prepare(args.out, args.steps_per_quarter, args.limit)
    for split, n in report["pieces"].items():
        print(f"  {args.out}/{split}/midi.scp: {n} chorales")
    print(f"  {report['notes']} notes; on the grid of {args.steps_per_quarter} steps per quarter: "
          f"{report['off_grid']} rounded, {report['grace']} grace notes left out, "
          f"{report['overlaps']} changed by same-pitch overlaps (unisons); repeats not expandable "
          f"in {report['repeats_not_expanded']} chorale(s)")
    if report["skipped"]:
        print(f"  skipped {len(report['skipped'])} chorale(s) (listed in {args.out}/skipped): "
              + ", ".join(list(report["skipped"])[:5]))


def cmd_maestro(args: argparse.Namespace) -> None:
    from audiokit.music import maestro

    counts = maestro.prepare(args.root, args.out, args.skip_missing)
    for split, n in counts.items():
        print(f"  {args.out}/{split}/midi.scp: {n} performances")


def cmd_music_tokens(args: argparse.Namespace) -> None:
    from audiokit.music.events import EventConfig
    from audiokit.music.tokens import tokenize_dirs

    if args.step_ms is not None:
        cfg = EventConfig(args.max_shift, args.velocity_bins, None, args.step_ms / 1000)
    else:
        cfg = EventConfig(args.max_shift, args.velocity_bins, args.steps_per_quarter)
    summary = tokenize_dirs(args.data_dirs, args.token_dir, cfg, args.on_bad_midi)
    print(f"  {args.token_dir}: {len(cfg.token_list())} tokens ({json.dumps(cfg.__dict__)})")
    for d, s in summary.items():
        skipped = f", skipped {s['skipped']} (listed in {d}/skipped_midi)" if s["skipped"] else ""
        print(f"  {d}/events: {s['pieces']} pieces, {s['events']} events{skipped}")


def add_parsers(sub) -> None:
    p = sub.add_parser("chorales", help="the Bach chorales of music21's corpus -> MIDI + "
                       "train/valid/test midi.scp (fixed split by chorale)")
    p.add_argument("--out", required=True, help="where to write midi/ and the split dirs")
    p.add_argument("--steps-per-quarter", type=int, default=4, help="grid (4: 16th notes)")
    p.add_argument("--limit", type=int, help="at most this many chorales per split (tests)")
    p.set_defaults(func=cmd_chorales)

    p = sub.add_parser("maestro", help="MAESTRO (MIDI + maestro-v3.0.0.csv) -> train/valid/test "
                       "midi.scp by the CSV's split column")
    p.add_argument("--root", required=True, help="the folder holding maestro-v3.0.0.csv")
    p.add_argument("--out", required=True)
    p.add_argument("--skip-missing", action="store_true",
                   help="leave out (and list) CSV rows whose MIDI file is missing")
    p.set_defaults(func=cmd_maestro)

    p = sub.add_parser("music-tokens", help="MIDI data dirs (midi.scp) -> events files + the "
                       "event token dir")
    p.add_argument("data_dirs", nargs="+")
    p.add_argument("--token-dir", required=True, help="token dir to write (tokens.txt, tokenizer.json)")
    p.add_argument("--steps-per-quarter", type=int, default=4, help="score grid (default 16ths)")
    p.add_argument("--step-ms", type=float, help="performance grid in ms instead (MAESTRO: 10)")
    p.add_argument("--max-shift", type=int, default=16, help="longest time-shift token, in steps")
    p.add_argument("--velocity-bins", type=int, default=0, help="0: no velocity tokens")
    p.add_argument("--on-bad-midi", default="error", choices=["error", "skip"])
    p.set_defaults(func=cmd_music_tokens)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use audiokit-prep chorales | maestro | music-tokens")
