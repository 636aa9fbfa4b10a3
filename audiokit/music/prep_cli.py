"""The music stages of ``audiokit-prep``: ``chorales``, ``maestro``, ``music-tokens``,
``render-chorales`` (captioned audio clips) and ``t2m-chance`` (chance rows for scoring)."""

from __future__ import annotations

import argparse
import json
import shutil
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


def cmd_render_chorales(args: argparse.Namespace) -> None:
    from audiokit.music.render import RenderConfig, render

    counts = {}
    for item in args.clips_per_chorale.split(","):
        split, _, n = item.partition("=")
        if split not in ("train", "valid", "test") or not n.isdigit():
            sys.exit(f"audiokit-prep render-chorales: --clips-per-chorale: expected "
                     f"train=N,valid=N,test=N, got {args.clips_per_chorale!r}")
        counts[split] = int(n)
    if args.clip_seconds <= 0:
        sys.exit(f"audiokit-prep render-chorales: --clip-seconds must be positive, got {args.clip_seconds}")
    cfg = RenderConfig(args.clip_seconds, args.sample_rate, counts, seed=args.seed,
                       synth=args.synth, soundfont=args.soundfont)
    if args.synth == "fluidsynth":
        from audiokit.music.fluidsynth import find_soundfont

        if shutil.which("fluidsynth") is None:
            sys.exit("audiokit-prep render-chorales: --synth fluidsynth: fluidsynth is not "
                     "installed (apt-get install fluidsynth fluid-soundfont-gm)")
        try:
            find_soundfont(args.soundfont)
        except FileNotFoundError as e:
            sys.exit(f"audiokit-prep render-chorales: {e}")
    try:
        report = render(args.chorales, args.out, cfg, args.limit)
    except FileNotFoundError as e:
        sys.exit(f"audiokit-prep render-chorales: error: {e}")
    for split, r in report["splits"].items():
        print(f"  {args.out}/{split}: {r['clips']} clips of {args.clip_seconds:g} s from "
              f"{r['chorales']} chorales; timbre {r['timbre']}, tempo {r['tempo']}, "
              f"mode {r['mode']}, {r['keys']} keys")
    if report["skipped"]:
        print(f"  skipped {len(report['skipped'])} MIDI file(s) (listed in {args.out}/skipped_render)")


def cmd_t2m_chance(args: argparse.Namespace) -> None:
    from audiokit.music.t2m_chance import make_chance_dir

    out = make_chance_dir(args.ref, args.out, args.kind, args.seed)
    print(f"  {out}/wav.scp: {args.kind} clips for the captions of {args.ref}")


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

    p = sub.add_parser("render-chorales", help="chorale MIDI (audiokit-prep chorales) -> "
                       "captioned audio clips with timbre/tempo/key/mode labels (text-to-music)")
    p.add_argument("--chorales", required=True, help="the chorales dir ({train,valid,test}/midi.scp)")
    p.add_argument("--out", required=True, help="where to write {train,valid,test}/ and wav/")
    p.add_argument("--clip-seconds", type=float, default=6.0)
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--clips-per-chorale", default="train=2,valid=2,test=3")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--synth", default="builtin", choices=["builtin", "fluidsynth"],
                   help="builtin: the additive synthesiser; fluidsynth: a GM soundfont")
    p.add_argument("--soundfont", help="fluidsynth only (default: the Debian FluidR3_GM.sf2)")
    p.add_argument("--limit", type=int, help="at most this many chorales per split (tests)")
    p.set_defaults(func=cmd_render_chorales)

    p = sub.add_parser("t2m-chance", help="chance rows for audiokit-score task=t2m: real clips "
                       "under shuffled captions, or noise")
    p.add_argument("ref", help="a rendered data dir (its captions and clips)")
    p.add_argument("--out", required=True, help="folder to write wav.scp (and noise clips) to")
    p.add_argument("--kind", required=True, choices=["shuffled", "noise"])
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_t2m_chance)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use audiokit-prep chorales | maestro | music-tokens | render-chorales | t2m-chance")
