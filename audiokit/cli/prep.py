"""audiokit-prep: data preparation stages.

    audiokit-prep fsdd --root $FSDD_ROOT --out data          # FSDD -> data/{train,valid,test}
    audiokit-prep fsdd-strings --root $FSDD_ROOT --out data  # FSDD digit strings (ASR)
    audiokit-prep fsdd-mix --root $FSDD_ROOT --out data      # FSDD 2-speaker mixtures (separation)
    audiokit-prep fsdd-noisy --root $FSDD_ROOT --out data    # noisy/reverberant FSDD (enhancement)
    audiokit-prep ljspeech --root $LJSPEECH_ROOT --out data  # LJSpeech-1.1 -> train/valid/test
    audiokit-prep voxceleb --root $VOXCELEB --out data   # voxceleb1_dev, voxceleb1_test (+ trials)
    audiokit-prep librimix --root $LIBRIMIX --out data --mix-type both  # train_100, dev, test
    audiokit-prep wham --root $WHAMR --out data --task sep_noisy --reverb  # WHAMR! tr, cv, tt
    audiokit-prep ami --audio-root $AMI_ROOT --setup-root $AMI_SETUP --out data  # train, dev, test + rttm
    audiokit-prep mix data/train --out data/mix_train -n 2000 --levels -5:5 --mode max  # any dir
    audiokit-prep fsdd-conversations --root $FSDD_ROOT --out data  # 2-speaker talks (diarization)
    audiokit-prep conversations data/train --out data/conv_train -n 500 --num-speakers 2 \
        --beta 2 --mode turns --overlap-prob 0.3 --seed 0  # conversations of any dir (+ rttm)
    audiokit-prep folder --audio-dir DIR --out data/mine     # any folder of audio -> data dir
    audiokit-prep validate data/train data/valid             # read every file, name the bad ones
    audiokit-prep validate data/mine --experiment cls/fsdd_cnn  # ... at the experiment's rate
    audiokit-prep validate-shards data/shards/train          # name corrupt WebDataset shards
    audiokit-prep stats --out exp/cmvn.json -- experiment=cls/fsdd_cnn   # global CMVN stats
    audiokit-prep tokens --kind bpe --vocab-size 500 --text data/train/text --out data/token_list/bpe500
    audiokit-prep shards data/train --out data/shards/train   # WebDataset tar shards + shards.json
    audiokit-prep trials data/test -n 600                   # verification trials (half target)
    audiokit-prep trials data/test -n 600 --involving theo  # ... each with a recording of theo
    audiokit-prep chorales --out data                        # Bach chorales (music21) -> MIDI, splits
    audiokit-prep maestro --root $MAESTRO --out data         # MAESTRO MIDI lists by its CSV split
    audiokit-prep music-tokens data/train data/valid data/test --token-dir data/events  # MIDI -> events
    audiokit-prep render-chorales --chorales data --out data/audio  # captioned audio clips (t2m)
    audiokit-prep t2m-chance data/audio/test --out exp/chance --kind shuffled  # t2m chance row
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

log = logging.getLogger("audiokit.prep")


def _index_range(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition(":")
    return int(lo), int(hi)


def cmd_fsdd(args: argparse.Namespace) -> None:
    from audiokit.data.corpora import fsdd

    splits = dict(fsdd.DEFAULT_SPLITS)
    for name, value in (("train", args.train_index), ("valid", args.valid_index),
                        ("test", args.test_index)):
        if value:
            splits[name] = _index_range(value)
    speakers = args.speakers.split(",") if args.speakers else None
    root = Path(args.root) if args.root else None
    dirs = fsdd.prepare(root, Path(args.out), splits, speakers, Path(args.download_dir))
    for d in dirs.values():
        print(f"  {d.path}: {len(d)} utterances, {sum(d.utt2dur.values()) / 60:.1f} min")


def cmd_librispeech(args: argparse.Namespace) -> None:
    from audiokit.data.audio import AudioError
    from audiokit.data.corpora import librispeech

    try:
        dirs = librispeech.prepare(Path(args.root), Path(args.out), args.subsets.split(","),
                                   args.num_workers)
    except AudioError as e:  # an unreadable flac header: the message names it
        sys.exit(f"audiokit-prep librispeech: error: {e}")
    for d in dirs.values():
        print(f"  {d.path}: {len(d)} utterances, {sum(d.utt2dur.values()) / 3600:.2f} h")


def cmd_voxceleb(args: argparse.Namespace) -> None:
    from audiokit.data.audio import AudioError
    from audiokit.data.corpora import voxceleb

    subsets = [s for s in args.subsets.split(",") if s]
    try:
        dirs = voxceleb.prepare(Path(args.root), Path(args.out), subsets, args.num_workers)
    except (AudioError, ValueError) as e:  # DataDirError (a ValueError) names file and line
        sys.exit(f"audiokit-prep voxceleb: error: {e}")
    for d in dirs.values():
        trials = d.path / "trials"
        extra = f", {len(trials.read_text().splitlines())} trials" if trials.is_file() else ""
        print(f"  {d.path}: {len(d)} utterances, {len(d.spk2utt())} speakers, "
              f"{sum(d.utt2dur.values()) / 3600:.2f} h{extra}")


def cmd_librimix(args: argparse.Namespace) -> None:
    from audiokit.data.audio import AudioError
    from audiokit.data.corpora import librimix

    splits = args.splits.split(",") if args.splits else None
    try:
        dirs = librimix.prepare(Path(args.root), Path(args.out), args.num_speakers,
                                args.sample_rate, args.mode, args.mix_type, splits,
                                args.num_workers)
    except (AudioError, ValueError) as e:  # DataDirError (a ValueError) names file and mixture
        sys.exit(f"audiokit-prep librimix: error: {e}")
    for d in dirs.values():
        print(f"  {d.path}: {len(d)} mixtures, {sum(d.utt2dur.values()) / 3600:.2f} h")


def cmd_wham(args: argparse.Namespace) -> None:
    from audiokit.data.audio import AudioError
    from audiokit.data.corpora import wham

    splits = args.splits.split(",") if args.splits else wham.SPLITS
    try:
        dirs = wham.prepare(Path(args.root), Path(args.out), args.sample_rate, args.mode,
                            args.task, args.reverb, args.targets, splits, args.num_workers)
    except (AudioError, ValueError) as e:
        sys.exit(f"audiokit-prep wham: error: {e}")
    for d in dirs.values():
        print(f"  {d.path}: {len(d)} mixtures, {sum(d.utt2dur.values()) / 3600:.2f} h")


def cmd_ami(args: argparse.Namespace) -> None:
    from audiokit.data.audio import AudioError
    from audiokit.data.corpora import ami

    splits = [s for s in args.splits.split(",") if s]
    try:
        dirs = ami.prepare(Path(args.audio_root), Path(args.setup_root), Path(args.out), args.mic,
                           splits, reference=args.reference, skip_missing=args.skip_missing,
                           num_workers=args.num_workers)
    except (AudioError, ValueError) as e:  # DataDirError (a ValueError) names file and meeting
        sys.exit(f"audiokit-prep ami: error: {e}")
    for d in dirs.values():
        counts = [int(n) for n in d.extra["reco2num_spk"].values()]
        uem = ", uem" if (d.path / "uem").is_file() else ""
        spk = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
        print(f"  {d.path}: {len(d)} meeting(s), {spk} speakers each, "
              f"{sum(d.utt2dur.values()) / 3600:.2f} h, rttm{uem}")


def cmd_esc50(args: argparse.Namespace) -> None:
    from audiokit.data.audio import AudioError
    from audiokit.data.corpora import esc50

    try:
        dirs = esc50.prepare(Path(args.root), Path(args.out), args.test_fold, args.esc10)
    except (AudioError, ValueError) as e:  # DataDirError (a ValueError) names the file
        sys.exit(f"audiokit-prep esc50: error: {e}")
    for d in dirs.values():
        print(f"  {d.path}: {len(d)} clips, {len({v[0] for v in d.utt2label.values()})} classes")


def cmd_ljspeech(args: argparse.Namespace) -> None:
    from audiokit.data.audio import AudioError
    from audiokit.data.corpora import ljspeech

    try:
        dirs = ljspeech.prepare(Path(args.root), Path(args.out), args.valid_count,
                                args.test_count, args.num_workers)
    except (AudioError, ValueError) as e:  # DataDirError (a ValueError) names file and line
        sys.exit(f"audiokit-prep ljspeech: error: {e}")
    for d in dirs.values():
        print(f"  {d.path}: {len(d)} utterances, {sum(d.utt2dur.values()) / 3600:.2f} h")


def cmd_trials(args: argparse.Namespace) -> None:
    from audiokit.data.datadir import DataDir, DataDirError
    from audiokit.data.make_trials import make_trials
    from audiokit.inference.trials import write_trials

    data = DataDir.load(args.data_dir)
    involving = args.involving.split(",") if args.involving else None
    try:
        trials = make_trials(data, args.n, args.seed, involving)
    except DataDirError as e:
        sys.exit(f"audiokit-prep trials: error: {e}")
    write_trials(Path(args.data_dir) / "trials", trials)
    target = sum(t.target for t in trials)
    print(f"  {args.data_dir}/trials: {len(trials)} trials ({target} target, "
          f"{len(trials) - target} nontarget)")


def cmd_fsdd_strings(args: argparse.Namespace) -> None:
    from audiokit.data.corpora import fsdd_strings

    splits = dict(fsdd_strings.DEFAULT_SPLITS)
    for name, index, count in (("train", args.train_index, args.train_count),
                               ("valid", args.valid_index, args.valid_count),
                               ("test", args.test_index, args.test_count)):
        lo_hi, default_count = splits[name]
        splits[name] = (_index_range(index) if index else lo_hi, count or default_count)
    speakers = args.speakers.split(",") if args.speakers else None
    root = Path(args.root) if args.root else None
    dirs = fsdd_strings.prepare(root, Path(args.out), splits, speakers, args.seed,
                                Path(args.download_dir))
    for d in dirs.values():
        print(f"  {d.path}: {len(d)} digit strings, {sum(d.utt2dur.values()) / 60:.1f} min")


def _float_range(text: str, what: str) -> tuple[float, float]:
    lo, sep, hi = text.partition(":")
    try:
        low, high = float(lo), float(hi)
    except ValueError:
        sys.exit(f"audiokit-prep: {what} must be lo:hi (numbers), got {text!r}")
    if not sep or low > high:
        sys.exit(f"audiokit-prep: {what} must be lo:hi with lo <= hi, got {text!r}")
    return low, high


def cmd_fsdd_mix(args: argparse.Namespace) -> None:
    from audiokit.data.corpora import fsdd_mixtures
    from audiokit.data.datadir import DataDirError

    splits = dict(fsdd_mixtures.DEFAULT_SEPARATION_SPLITS)
    for name, index, count in (("train", args.train_index, args.train_count),
                               ("valid", args.valid_index, args.valid_count),
                               ("test", args.test_index, args.test_count)):
        lo_hi, default_count = splits[name]
        splits[name] = (_index_range(index) if index else lo_hi,
                        default_count if count is None else count)
    speakers = args.speakers.split(",") if args.speakers else None
    root = Path(args.root) if args.root else None
    try:
        dirs = fsdd_mixtures.prepare_separation(
            root, Path(args.out), args.seed, splits, speakers, args.num_sources,
            _float_range(args.levels, "--levels"), args.mode, Path(args.download_dir))
    except DataDirError:  # a ValueError too, reported by main() with the file at fault
        raise
    except ValueError as e:  # e.g. more sources than speakers
        sys.exit(f"audiokit-prep fsdd-mix: error: {e}")
    for d in dirs.values():
        print(f"  {d.path}: {len(d)} mixtures, {sum(d.utt2dur.values()) / 60:.1f} min")


def cmd_fsdd_noisy(args: argparse.Namespace) -> None:
    from audiokit.data.corpora import fsdd_mixtures

    splits = dict(fsdd_mixtures.DEFAULT_ENHANCEMENT_SPLITS)
    for name, index in (("train", args.train_index), ("valid", args.valid_index),
                        ("test", args.test_index)):
        if index:
            splits[name] = _index_range(index)
    if not 0 <= args.reverb_prob <= 1:
        sys.exit(f"audiokit-prep fsdd-noisy: --reverb-prob must be in [0, 1], "
                 f"got {args.reverb_prob}")
    kinds = args.noise_kinds.split(",")
    unknown = sorted(set(kinds) - set(fsdd_mixtures.NOISE_KINDS))
    if unknown:
        sys.exit(f"audiokit-prep fsdd-noisy: --noise-kinds: unknown {unknown}; choose from "
                 f"{','.join(fsdd_mixtures.NOISE_KINDS)}")
    if args.copies < 1 or args.talkers < 1:
        sys.exit("audiokit-prep fsdd-noisy: --copies and --talkers must be at least 1")
    speakers = args.speakers.split(",") if args.speakers else None
    root = Path(args.root) if args.root else None
    dirs = fsdd_mixtures.prepare_enhancement(
        root, Path(args.out), args.seed, splits, speakers, _float_range(args.snr, "--snr"),
        kinds, args.reverb_prob, _float_range(args.rt60, "--rt60"),
        args.talkers, args.copies, Path(args.download_dir))
    for d in dirs.values():
        print(f"  {d.path}: {len(d)} noisy utterances, {sum(d.utt2dur.values()) / 60:.1f} min")


def cmd_mix(args: argparse.Namespace) -> None:
    """Mixtures of any single-speaker data dir (with utt2spk)."""
    from audiokit.data.datadir import DataDir, DataDirError
    from audiokit.data.simulation.mixtures import make_mixture_dir

    if args.n < 1 or args.num_sources < 1:
        sys.exit(f"audiokit-prep mix: -n and --num-sources must be positive, got {args.n}, "
                 f"{args.num_sources}")
    src = DataDir.load(args.src_dir)
    try:
        d = make_mixture_dir(src, args.out, args.n, args.num_sources,
                             _float_range(args.levels, "--levels"), args.mode, args.seed,
                             args.sample_rate)
    except DataDirError:
        raise
    except ValueError as e:
        sys.exit(f"audiokit-prep mix: {args.src_dir}: error: {e}")
    print(f"  {d.path}: {len(d)} {args.num_sources}-source mixtures of {args.src_dir}, "
          f"{sum(d.utt2dur.values()) / 60:.1f} min")


# fsdd-conversations: split -> ((recording index lo, hi), conversations), as the other FSDD
# sets (no recording feeds two splits). The settings give 2-speaker conversations of about
# 10.5 s with a 14-15 % overlap ratio (measured on 300 train / 100 test conversations): a turn
# is 1-4 digits (~0.37 s of speech each, 0.1 s mean pauses between them), 4-6 turns per
# speaker, 0.4 s mean pauses between turns, and 80 % of turns overlapping the previous one by
# 30-80 % of the shorter turn.
FSDD_CONVERSATION_SPLITS = {"train": ((10, 50), 1000), "valid": ((5, 10), 100),
                            "test": ((0, 5), 100)}
FSDD_CONVERSATION_DEFAULTS = {"mode": "turns", "beta": 0.4, "overlap_prob": 0.8,
                              "overlap_fraction": "0.3:0.8", "utts_per_speaker": "4:6",
                              "utts_per_turn": "1:4", "turn_pause": 0.1, "snr": "10:20"}


def _count_or_range(text: str, what: str) -> int | tuple[int, int]:
    """``N`` or ``lo:hi`` (positive integers)."""
    lo, sep, hi = text.partition(":")
    try:
        value = (int(lo), int(hi)) if sep else int(lo)
    except ValueError:
        sys.exit(f"audiokit-prep: {what} must be N or lo:hi (integers), got {text!r}")
    if min(value if sep else (value,)) < 1 or (sep and value[0] > value[1]):
        sys.exit(f"audiokit-prep: {what} must be positive (lo <= hi), got {text!r}")
    return value


def _conversation_options(args: argparse.Namespace) -> dict:
    """The plan_conversations settings from the shared conversation options."""
    snr = None if args.snr.lower() in ("none", "off", "") else _float_range(args.snr, "--snr")
    return {"num_speakers": _count_or_range(args.num_speakers, "--num-speakers"),
            "utts_per_speaker": _count_or_range(args.utts_per_speaker, "--utts-per-speaker"),
            "utts_per_turn": _count_or_range(args.utts_per_turn, "--utts-per-turn"),
            "turn_pause": args.turn_pause,
            "beta": args.beta, "mode": args.mode, "overlap_prob": args.overlap_prob,
            "overlap_fraction": _float_range(args.overlap_fraction, "--overlap-fraction"),
            "snr_range": snr, "noise_kinds": tuple(args.noise_kinds.split(","))}


def _print_conversations(d, stats: dict) -> None:
    print(f"  {d.path}: {stats['num_recordings']} conversations, {60 * stats['hours']:.1f} min "
          f"(mean {stats['duration_s']['mean']:.1f} s), overlap ratio "
          f"{100 * stats['overlap_ratio']:.1f} %, speech {100 * stats['speech_fraction']:.0f} % "
          f"of the time, {stats['turns_per_recording']:.1f} turns each")


def cmd_conversations(args: argparse.Namespace) -> None:
    """Simulated conversations (reference rttm) of any single-speaker data dir (utt2spk)."""
    from audiokit.data.datadir import DataDir, DataDirError
    from audiokit.data.simulation.conversations import make_conversation_dir

    if args.n < 1:
        sys.exit(f"audiokit-prep conversations: -n must be positive, got {args.n}")
    options = _conversation_options(args)
    src = DataDir.load(args.src_dir)
    try:
        d, stats = make_conversation_dir(src, args.out, args.n, sample_rate=args.sample_rate,
                                         seed=args.seed, threshold_db=args.trim_db, **options)
    except DataDirError:
        raise
    except ValueError as e:  # e.g. more speakers per conversation than the dir has
        sys.exit(f"audiokit-prep conversations: {args.src_dir}: error: {e}")
    _print_conversations(d, stats)


def cmd_fsdd_conversations(args: argparse.Namespace) -> None:
    """2-speaker FSDD conversations: out/{train,valid,test} with reference rttm files."""
    from audiokit.data.corpora.fsdd import load_recordings
    from audiokit.data.corpora.fsdd_mixtures import SAMPLE_RATE, recordings_dir, split_seed
    from audiokit.data.datadir import DataDirError
    from audiokit.data.simulation.conversations import make_conversation_dir

    splits = dict(FSDD_CONVERSATION_SPLITS)
    for name, index, count in (("train", args.train_index, args.train_count),
                               ("valid", args.valid_index, args.valid_count),
                               ("test", args.test_index, args.test_count)):
        lo_hi, default_count = splits[name]
        splits[name] = (_index_range(index) if index else lo_hi,
                        default_count if count is None else count)
    options = _conversation_options(args)
    speakers = args.speakers.split(",") if args.speakers else None
    root = Path(args.root) if args.root else None
    # single-speaker dirs of each split in memory, as fsdd-mix makes them: nothing to clean up
    root, recordings = load_recordings(root, Path(args.out), speakers, Path(args.download_dir))
    for name, ((lo, hi), count) in splits.items():
        chosen = [r for r in recordings if lo <= r.index < hi]
        if not chosen:
            raise DataDirError(f"{root}: split '{name}' (index {lo}..{hi - 1}) is empty")
        src = recordings_dir(chosen, chosen[0].path.parent)
        info = {"corpus": "fsdd", "split": name, "index_range": [lo, hi], "base_seed": args.seed}
        try:
            d, stats = make_conversation_dir(src, Path(args.out) / name, count,
                                             sample_rate=SAMPLE_RATE,
                                             seed=split_seed(args.seed, name),
                                             threshold_db=args.trim_db, info=info, **options)
        except DataDirError:
            raise
        except ValueError as e:
            sys.exit(f"audiokit-prep fsdd-conversations: split '{name}': error: {e}")
        _print_conversations(d, stats)


def _conversation_args(p: argparse.ArgumentParser, defaults: dict,
                       count_flags: tuple[str, ...] = ("--num-speakers",)) -> None:
    """Options shared by conversations and fsdd-conversations (defaults differ)."""
    p.add_argument(*count_flags, dest="num_speakers", default="2",
                   help="speakers per conversation: N or lo:hi (default %(default)s)")
    p.add_argument("--utts-per-speaker", default=defaults["utts_per_speaker"],
                   help="utterances per speaker (turns mode: turns per speaker), N or lo:hi "
                   "(default %(default)s)")
    p.add_argument("--utts-per-turn", default=defaults.get("utts_per_turn", "1"),
                   help="turns: utterances in one turn, N or lo:hi (default %(default)s)")
    p.add_argument("--turn-pause", type=float, default=defaults.get("turn_pause", 0.1),
                   help="turns: mean pause between the utterances of a turn, seconds "
                   "(default %(default)s)")
    p.add_argument("--mode", default=defaults["mode"], choices=["eend", "turns"],
                   help="eend: one track per speaker (EEND's simulation); turns: alternating "
                   "turns with controlled overlap (default %(default)s)")
    p.add_argument("--beta", type=float, default=defaults["beta"],
                   help="mean pause before an utterance, seconds (default %(default)s)")
    p.add_argument("--overlap-prob", type=float, default=defaults["overlap_prob"],
                   help="turns: share of turns starting before the previous ends "
                   "(default %(default)s)")
    p.add_argument("--overlap-fraction", default=defaults["overlap_fraction"],
                   help="turns: overlap as a fraction of the shorter turn, lo:hi "
                   "(default %(default)s)")
    p.add_argument("--snr", default=defaults["snr"],
                   help="noise SNR range in dB against the speech, lo:hi, or none "
                   "(default %(default)s)")
    p.add_argument("--noise-kinds", default="white,pink,brown")
    p.add_argument("--trim-db", type=float, default=-30.0,
                   help="silent edges of each utterance: frames this far below its loudest "
                   "frame are cut (default %(default)s)")


def _allow_negative_ranges(parser: argparse.ArgumentParser) -> None:
    # argparse takes "-5:5" for an option flag; let such ranges through as values.
    parser._negative_number_matcher = re.compile(r"^-\d*\.?\d+(:-?\d*\.?\d+)?$")


def safe_id(stem: str) -> str:
    """An utterance id from a file name: whitespace (which would split a Kaldi line) and
    anything but letters, digits and ``-_.`` become ``_``."""
    return re.sub(r"[^\w.-]", "_", stem.strip()) or "_"


def cmd_folder(args: argparse.Namespace) -> None:
    """A data dir from every audio file under a folder; labels from a file-name pattern.
    Ids are the file names made safe (``my file.wav`` -> ``my_file``); unreadable or empty
    files are left out and listed in OUT/skipped."""
    from audiokit.data.audio import AudioError, audio_info
    from audiokit.data.datadir import DataDir, write_kaldi_map

    if not Path(args.audio_dir).is_dir():
        sys.exit(f"audiokit-prep folder: error: {args.audio_dir}: no such folder")
    files = sorted(p for ext in ("wav", "flac") for p in Path(args.audio_dir).rglob(f"*.{ext}"))
    if not files:
        sys.exit(f"audiokit-prep folder: error: no .wav/.flac files under {args.audio_dir}")
    ids = [safe_id(p.stem) for p in files]
    first: dict[str, Path] = {}
    for i, p in zip(ids, files, strict=True):
        if i in first:
            sys.exit(f"audiokit-prep folder: error: {first[i]} and {p} both give the id '{i}'; "
                     "rename one")
        first[i] = p
    wav_scp, utt2dur, skipped = {}, {}, {}
    for i, p in zip(ids, files, strict=True):
        try:
            info = audio_info(str(p.resolve()), i)
            if info.frames <= 0:
                raise AudioError(f"utterance '{i}' ({p}): empty audio (0 samples)")
        except AudioError as e:
            skipped[i] = str(e)
            continue
        wav_scp[i], utt2dur[i] = str(p.resolve()), info.duration
    if not wav_scp:
        sys.exit(f"audiokit-prep folder: error: no readable audio under {args.audio_dir}")
    ids = list(wav_scp)
    d = DataDir(path=Path(args.out), wav_scp=wav_scp, utt2dur=utt2dur)
    if args.label_regex:
        pattern = re.compile(args.label_regex)
        labels = {}
        for i in ids:
            m = pattern.search(i)
            if m is None:
                sys.exit(f"audiokit-prep folder: '{i}' does not match --label-regex {args.label_regex}")
            labels[i] = [m.group(1)]
        d.utt2label = labels
    d.write()
    renamed = sum(safe_id(p.stem) != p.stem for p in files)
    print(f"  {d.path}: {len(ids)} utterances"
          + (f" ({renamed} id(s) made safe from file names with spaces or symbols)" if renamed else ""))
    if skipped:
        write_kaldi_map(d.path / "skipped", skipped)
        print(f"  skipped {len(skipped)} unreadable or empty file(s) (list: {d.path / 'skipped'}):")
        for reason in list(skipped.values())[:10]:
            print(f"    {reason}")


def cmd_pseudo_labels(args: argparse.Namespace) -> None:
    from audiokit.data.pseudo_labels import write_pseudo_labelled_dir

    n_labelled, n_pseudo = write_pseudo_labelled_dir(
        Path(args.labelled), Path(args.unlabelled), Path(args.hyp), args.share, Path(args.out))
    print(f"  {args.out}: {n_labelled} labelled + {n_pseudo} pseudo-labelled recordings")


def cmd_validate(args: argparse.Namespace) -> None:
    from audiokit.data.datadir import DataDir, DataDirError
    from audiokit.data.validate import find_problems, write_report

    expect_rate, downmix = args.expect_rate, args.downmix
    if args.experiment:  # what the experiment reads: its sample rate, mono unless downmix
        from audiokit.utils.config_check import check_groups

        check_groups(_conf_dir(), [f"experiment={args.experiment}"])
        data = _compose_train([f"experiment={args.experiment}"]).data
        expect_rate = expect_rate or int(data.sample_rate)
        downmix = downmix or bool(data.get("downmix", False))
        print(f"  checking against experiment {args.experiment}: {expect_rate} Hz, "
              f"{'any channels (downmixed)' if downmix else 'mono'}")
    failed = False
    for path in args.data_dirs:
        try:
            d = DataDir.load(path)
        except DataDirError as e:
            print(f"  {path}: ERROR {e}")
            failed = True
            continue
        problems = find_problems(d, sample_rate=args.sample_rate, downmix=downmix,
                                 expect_rate=expect_rate)
        if problems:
            failed = True
            write_report(problems, Path(path) / "bad_audio.txt")
            print(f"  {path}: {len(problems)} of {len(d)} utterance(s) with bad audio "
                  f"(list: {Path(path) / 'bad_audio.txt'}):")
            for p in problems[:20]:
                print(f"    {p.utt}: {p.source}: {p.reason}")
        else:
            print(f"  {path}: {len(d)} utterances OK")
    if failed:
        sys.exit(1)


def _conf_dir() -> str:
    from audiokit.cli.train import CONF_DIR

    return CONF_DIR


def _compose_train(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=_conf_dir(), version_base="1.3"):
        return compose("train", overrides=overrides)


def cmd_stats(args: argparse.Namespace) -> None:
    """Global mean/std of the training features, with the frontend the experiment uses."""
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from torch.utils.data import DataLoader

    from audiokit.cli.train import CONF_DIR
    from audiokit.data.collate import collate_audio
    from audiokit.data.dataset import AudioDataset
    from audiokit.data.sampler import DurationBatchSampler
    from audiokit.frontends import StatsAccumulator
    from audiokit.utils.config_check import check_overrides

    check_overrides(CONF_DIR, "train", args.overrides)  # misspelt keys, types: one line
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=args.overrides + ["paths.cmvn_stats=null"])
    frontend = instantiate(cfg.frontend).eval()  # statistics of unaugmented features
    if not hasattr(frontend, "extract"):
        print(f"  frontend {cfg.frontend._target_} uses no CMVN statistics: nothing to compute")
        return
    data_dir = args.data_dir or cfg.data.train_dir
    downmix = bool(cfg.data.get("downmix", False))  # not every data module has the option
    dataset = AudioDataset(data_dir, cfg.data.sample_rate, downmix=downmix)
    sampler = DurationBatchSampler(dataset.durations, cfg.data.max_batch_seconds, shuffle=False)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_audio,
                        num_workers=cfg.data.num_workers)
    stats = StatsAccumulator(frontend.output_dim)
    with torch.no_grad():
        for batch in loader:
            stats.update(*frontend.extract(batch["audio"], batch["audio_lens"]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    stats.save(args.out)
    print(f"  {args.out}: mean/std of {frontend.output_dim}-dim features over "
          f"{len(dataset)} utterances of {data_dir}")


def cmd_tokens(args: argparse.Namespace) -> None:
    """Train a tokenizer on a Kaldi text file; write its token dir (see audiokit.text.tokenizer)."""
    from audiokit.data.datadir import read_kaldi_map
    from audiokit.text.tokenizer import tokenizer_from_spec, train_tokenizer

    if not Path(args.text).is_file():
        sys.exit(f"audiokit-prep tokens: {args.text}: no such file")
    text = read_kaldi_map(args.text, allow_empty_value=True)  # utterances may be silent
    if not any(t.strip() for t in text.values()):
        sys.exit(f"audiokit-prep tokens: {args.text}: no utterance has any text")
    try:
        spec = train_tokenizer(args.kind, list(text.values()), args.out, args.vocab_size,
                               min_count=args.min_count, character_coverage=args.character_coverage,
                               source=args.text)
    except ValueError as e:
        sys.exit(f"audiokit-prep tokens: error: {e}")
    tokenizer = tokenizer_from_spec(spec)
    unknown = {utt: u for utt, t in text.items() if (u := tokenizer.unknown(t))}
    print(f"  {args.out}: {args.kind} tokens, vocab size {tokenizer.vocab_size} "
          f"(tokens.txt), from {len(text)} utterances of {args.text}")
    print(f"  {len(unknown)} of {len(text)} training utterances contain unknown pieces"
          + (f", e.g. {next(iter(unknown))}: {next(iter(unknown.values()))[:5]}" if unknown else ""))


def cmd_shards(args: argparse.Namespace) -> None:
    """WebDataset tar shards of a data dir, and the shards.json index the reader plans from."""
    from audiokit.data.shards import write_shards

    index = write_shards(args.data_dir, args.out, max_shard_mb=args.max_shard_mb,
                         max_per_shard=args.max_per_shard, audio_format=args.format,
                         sample_rate=args.sample_rate, on_bad_audio=args.on_bad_audio,
                         downmix=args.downmix, shuffle_seed=args.seed)
    print(f"  {args.out}: {len(index['shards'])} shard(s), {index['num_samples']} utterances, "
          f"{index['duration'] / 3600:.2f} h ({args.out}/shards.json)")
    if index["skipped"]:
        print(f"  skipped {len(index['skipped'])} utterance(s) with bad audio "
              f"(list: {args.out}/bad_audio.txt)")


def cmd_validate_shards(args: argparse.Namespace) -> None:
    """Read every shard's tar headers; name the corrupt ones, or with --on-bad-shard skip
    drop them from shards.json (listed there under skipped_shards, with a count)."""
    from audiokit.data.shards import check_shards, drop_shards

    failed = False
    for path in args.shard_dirs:
        bad = check_shards(path)
        if not bad:
            print(f"  {path}: every shard OK")
            continue
        for shard, why in bad.items():
            print(f"    {shard}: {why}")
        if args.on_bad_shard == "skip":
            index = drop_shards(path, bad)
            print(f"  {path}: skipped {len(bad)} corrupt shard(s); {len(index['shards'])} "
                  f"shard(s), {index['num_samples']} utterances left (shards.json rewritten)")
        else:
            failed = True
            print(f"  {path}: {len(bad)} corrupt shard(s) (--on-bad-shard skip leaves them out)")
    if failed:
        sys.exit(f"audiokit-prep validate-shards: error: corrupt shard(s): {', '.join(bad)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiokit-prep", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fsdd", help="Free Spoken Digit Dataset -> train/valid/test data dirs")
    _fsdd_source_args(p)
    p.add_argument("--speakers", help="comma-separated subset of speakers")
    p.set_defaults(func=cmd_fsdd)

    p = sub.add_parser("librispeech", help="LibriSpeech subsets -> data dirs (train_clean_100, ...)")
    p.add_argument("--root", required=True, help="the LibriSpeech folder, or the folder holding it")
    p.add_argument("--out", required=True, help="where to write the data dirs")
    p.add_argument("--subsets", default="train-clean-100,dev-clean,test-clean",
                   help="comma-separated subset folders (default: %(default)s)")
    p.add_argument("--num-workers", type=int, default=8, help="threads reading flac headers")
    p.set_defaults(func=cmd_librispeech)

    p = sub.add_parser("voxceleb", help="VoxCeleb1/2 -> voxceleb1_dev, voxceleb1_test, ... "
                       "(+ trials from the official lists)")
    p.add_argument("--root", required=True,
                   help="folder holding voxceleb1/ (or vox1_dev_wav/, wav/, voxceleb2/ ...)")
    p.add_argument("--out", required=True, help="where to write the data dirs")
    p.add_argument("--subsets", default="voxceleb1_dev,voxceleb1_test",
                   help="comma-separated, from voxceleb1_dev,voxceleb1_test,voxceleb2_dev,"
                   "voxceleb2_test (default: %(default)s)")
    p.add_argument("--num-workers", type=int, default=8, help="threads reading wav headers")
    p.set_defaults(func=cmd_voxceleb)

    p = sub.add_parser("librimix", help="LibriMix (Libri2Mix, ...) -> train_100, dev, test, ...")
    p.add_argument("--root", required=True, help="the folder holding Libri<N>Mix/ (or that folder)")
    p.add_argument("--out", required=True, help="where to write the data dirs")
    p.add_argument("--num-speakers", type=int, default=2, help="the N of Libri<N>Mix")
    p.add_argument("--sample-rate", type=int, default=8000, help="8000 (wav8k) or 16000 (wav16k)")
    p.add_argument("--mode", default="min", choices=["min", "max"])
    p.add_argument("--mix-type", default="clean", choices=["clean", "both", "single"],
                   help="clean: speakers; both: speakers + noise; single: speaker 1 + noise")
    p.add_argument("--splits", help="comma-separated split folders (default: every one of "
                   "train-100,train-360,dev,test present)")
    p.add_argument("--num-workers", type=int, default=8, help="threads reading wav headers")
    p.set_defaults(func=cmd_librimix)

    p = sub.add_parser("wham", help="WHAM!/WHAMR! separation or enhancement -> tr, cv, tt")
    p.add_argument("--root", required=True, help="the WHAM!/WHAMR! output folder (holds wav8k/)")
    p.add_argument("--out", required=True, help="where to write the data dirs")
    p.add_argument("--sample-rate", type=int, default=8000, choices=[8000, 16000])
    p.add_argument("--mode", default="min", choices=["min", "max"])
    p.add_argument("--task", default="sep_clean",
                   choices=["sep_clean", "sep_noisy", "enh_single", "enh_both", "enhance_single",
                            "enhance_both", "sep_reverb", "sep_reverb_noisy", "sep_noisy_reverb"])
    p.add_argument("--reverb", action="store_true", help="WHAMR!: the reverberant mixtures")
    p.add_argument("--targets", default="anechoic", choices=["anechoic", "reverb"],
                   help="WHAMR! references: anechoic (separate + dereverberate) or reverb")
    p.add_argument("--splits", help="comma-separated (default: tr,cv,tt)")
    p.add_argument("--num-workers", type=int, default=8, help="threads reading wav headers")
    p.set_defaults(func=cmd_wham)

    p = sub.add_parser("ami", help="AMI meetings (AMI-diarization-setup) -> train, dev, test "
                       "(wav.scp, rttm, uem)")
    p.add_argument("--audio-root", required=True,
                   help="the amicorpus folder (<meeting>/audio/<meeting>.Mix-Headset.wav), "
                   "or the folder holding it")
    p.add_argument("--setup-root", required=True,
                   help="a copy of AMI-diarization-setup (lists/, only_words/rttms/, uems/)")
    p.add_argument("--out", required=True, help="where to write the data dirs")
    p.add_argument("--mic", default="headset-mix", choices=["headset-mix", "array1-01"],
                   help="headset-mix: Mix-Headset.wav; array1-01: far field, Array1-01.wav")
    p.add_argument("--reference", default="only_words",
                   choices=["only_words", "word_and_vocalsounds"], help="which reference RTTMs")
    p.add_argument("--splits", default="train,dev,test", help="comma-separated (default: "
                   "%(default)s)")
    p.add_argument("--skip-missing", action="store_true",
                   help="leave out (and list) listed meetings without audio instead of failing")
    p.add_argument("--num-workers", type=int, default=8, help="threads reading wav headers")
    p.set_defaults(func=cmd_ami)

    p = sub.add_parser("esc50", help="ESC-50 (audio/, meta/esc50.csv) -> train/valid/test by fold")
    p.add_argument("--root", required=True, help="the unpacked ESC-50 folder (audio/, meta/)")
    p.add_argument("--out", required=True)
    p.add_argument("--test-fold", type=int, default=5, choices=range(1, 6),
                   help="fold scored as test; the next fold (5 -> 1) is valid, the rest train")
    p.add_argument("--esc10", action="store_true", help="only the ESC-10 subset (10 classes)")
    p.set_defaults(func=cmd_esc50)

    p = sub.add_parser("ljspeech", help="LJSpeech-1.1 (metadata.csv, wavs/) -> train/valid/test "
                       "(last ids in sorted order held out)")
    p.add_argument("--root", required=True, help="the LJSpeech-1.1 folder, or the folder holding it")
    p.add_argument("--out", required=True, help="where to write the data dirs")
    p.add_argument("--valid-count", type=int, default=250,
                   help="valid: the ids before the test ids (default %(default)s, as ESPnet's dev)")
    p.add_argument("--test-count", type=int, default=250,
                   help="test: the last ids in sorted order (default %(default)s, as ESPnet's eval1)")
    p.add_argument("--num-workers", type=int, default=8, help="threads reading wav headers")
    p.set_defaults(func=cmd_ljspeech)

    p = sub.add_parser("fsdd-strings", help="connected-digit strings from FSDD (ASR data dirs)")
    _fsdd_source_args(p)
    p.add_argument("--train-count", type=int, help="strings per speaker (default 400)")
    p.add_argument("--valid-count", type=int, help="default 40")
    p.add_argument("--test-count", type=int, help="default 60")
    p.add_argument("--speakers", help="comma-separated subset of speakers")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=cmd_fsdd_strings)

    p = sub.add_parser("trials", help="verification trials of a data dir (half target)")
    p.add_argument("data_dir", help="data dir with utt2spk; writes DATA_DIR/trials")
    p.add_argument("-n", type=int, default=600, help="number of trials (default %(default)s)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--involving", metavar="SPK[,SPK]",
                   help="only trials with a recording of these speakers (e.g. a voice held out of "
                        "training): their target pairs, and their recordings against the others'")
    p.set_defaults(func=cmd_trials)

    p = sub.add_parser("fsdd-mix", help="2-speaker FSDD mixtures (separation data dirs)")
    _fsdd_source_args(p)
    p.add_argument("--train-count", type=int, help="mixtures (default 2000)")
    p.add_argument("--valid-count", type=int, help="default 200")
    p.add_argument("--test-count", type=int, help="default 300")
    p.add_argument("--speakers", help="comma-separated subset of speakers (hold one out)")
    p.add_argument("--num-sources", type=int, default=2)
    p.add_argument("--levels", default="-5:5", help="dB range of sources 2.. against source 1")
    p.add_argument("--mode", default="max", choices=["max", "min"],
                   help="max: zero-pad to the longest source; min: cut to the shortest")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=cmd_fsdd_mix)
    _allow_negative_ranges(p)

    p = sub.add_parser("fsdd-noisy", help="noisy/reverberant FSDD (enhancement data dirs)")
    _fsdd_source_args(p)
    p.add_argument("--speakers", help="comma-separated subset of speakers")
    p.add_argument("--snr", default="0:10", help="SNR range in dB (default %(default)s)")
    p.add_argument("--noise-kinds", default="white,pink,brown,babble")
    p.add_argument("--reverb-prob", type=float, default=0.25,
                   help="share of utterances reverberated before the noise (default %(default)s)")
    p.add_argument("--rt60", default="0.2:0.6", help="RT60 range in seconds")
    p.add_argument("--talkers", type=int, default=3, help="talkers in babble noise")
    p.add_argument("--copies", type=int, default=1,
                   help="noisy versions of each training recording (valid and test: one)")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=cmd_fsdd_noisy)
    _allow_negative_ranges(p)

    p = sub.add_parser("mix", help="N-speaker mixtures of any data dir with utt2spk")
    p.add_argument("src_dir", help="single-speaker data dir (wav.scp, utt2spk)")
    p.add_argument("--out", required=True, help="mixture data dir to write (wavs under OUT/wav)")
    p.add_argument("-n", type=int, required=True, help="number of mixtures")
    p.add_argument("--num-sources", type=int, default=2)
    p.add_argument("--levels", default="-5:5", help="dB range of sources 2.. against source 1")
    p.add_argument("--mode", default="max", choices=["max", "min"])
    p.add_argument("--sample-rate", type=int, help="default: the rate of the first file")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_mix)
    _allow_negative_ranges(p)

    p = sub.add_parser("conversations", help="simulated conversations (with reference rttm) "
                       "of any data dir with utt2spk (diarization)")
    p.add_argument("src_dir", help="single-speaker data dir (wav.scp, utt2spk)")
    p.add_argument("--out", required=True, help="conversation data dir to write (wavs in OUT/wav)")
    p.add_argument("-n", type=int, required=True, help="number of conversations")
    _conversation_args(p, {"mode": "eend", "beta": 2.0, "overlap_prob": 0.3,
                           "overlap_fraction": "0.1:0.6", "utts_per_speaker": "5:10",
                           "snr": "none"}, ("--num-speakers", "--speakers"))
    p.add_argument("--sample-rate", type=int, help="default: the rate of the first file")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_conversations)
    _allow_negative_ranges(p)

    p = sub.add_parser("fsdd-conversations", help="2-speaker FSDD conversations with reference "
                       "rttm (diarization data dirs)")
    _fsdd_source_args(p)
    p.add_argument("--train-count", type=int, help="conversations (default 1000)")
    p.add_argument("--valid-count", type=int, help="default 100")
    p.add_argument("--test-count", type=int, help="default 100")
    p.add_argument("--speakers", help="comma-separated subset of speakers")
    _conversation_args(p, FSDD_CONVERSATION_DEFAULTS)
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=cmd_fsdd_conversations)
    _allow_negative_ranges(p)

    p = sub.add_parser("folder", help="a data dir from every .wav/.flac under a folder")
    p.add_argument("--audio-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--label-regex", help="regex with one group: the label, from the file stem")
    p.set_defaults(func=cmd_folder)

    p = sub.add_parser("pseudo-labels", help="self-training: a labelled data dir plus a "
                       "classifier's most confident guesses on unlabelled audio")
    p.add_argument("--labelled", required=True, help="data dir with utt2label")
    p.add_argument("--unlabelled", required=True, help="data dir of the unlabelled audio")
    p.add_argument("--hyp", required=True, help="audiokit-infer's output on --unlabelled "
                   "(utt2label, utt2posterior)")
    p.add_argument("--share", type=float, required=True, help="of the unlabelled recordings to "
                   "keep, the same number from each guessed class (0-1)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_pseudo_labels)

    p = sub.add_parser("validate", help="read every utterance; list bad ones and exit 1")
    p.add_argument("data_dirs", nargs="+")
    p.add_argument("--sample-rate", type=int, default=None,
                   help="decode fully at this rate (catches NaN, bad channels); default: headers")
    p.add_argument("--downmix", action="store_true", help="accept multi-channel audio")
    p.add_argument("--experiment", help="check against what this experiment reads (e.g. "
                   "cls/fsdd_cnn): its data.sample_rate, and mono unless its data.downmix")
    p.add_argument("--expect-rate", type=int, help="every file must be at this sample rate")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("validate-shards", help="read every shard's tar headers; name corrupt "
                       "shards (or drop them from shards.json with --on-bad-shard skip)")
    p.add_argument("shard_dirs", nargs="+", help="folders (or shards.json files) of shards")
    p.add_argument("--on-bad-shard", default="error", choices=["error", "skip"])
    p.set_defaults(func=cmd_validate_shards)

    p = sub.add_parser("stats", help="global CMVN statistics for an experiment's frontend")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--data-dir", help="default: the config's data.train_dir")
    p.add_argument("overrides", nargs="*", help="Hydra overrides after --, as for audiokit-train")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("tokens", help="token list (char, word, bpe, unigram) from a text file")
    p.add_argument("--kind", required=True, choices=["char", "word", "bpe", "unigram"])
    p.add_argument("--text", required=True, help="Kaldi text file: utt_id transcription")
    p.add_argument("--out", required=True, help="token dir to write (tokens.txt, tokenizer.json)")
    p.add_argument("--vocab-size", type=int, help="number of tokens, specials included "
                   "(required for bpe/unigram; a cap for char/word)")
    p.add_argument("--min-count", type=int, default=1, help="char/word: drop rarer pieces")
    p.add_argument("--character-coverage", type=float, default=1.0,
                   help="bpe/unigram: sentencepiece's character coverage (default 1.0)")
    p.set_defaults(func=cmd_tokens)

    p = sub.add_parser("shards", help="WebDataset tar shards of a data dir (streamed by data=shards)")
    p.add_argument("data_dir")
    p.add_argument("--out", required=True, help="folder for shard-NNNNNN.tar and shards.json")
    p.add_argument("--format", default="flac", choices=["flac", "wav"], help="16-bit PCM audio")
    p.add_argument("--max-shard-mb", type=float, default=100.0, help="close a shard at this size")
    p.add_argument("--max-per-shard", type=int, help="and at this many utterances")
    p.add_argument("--sample-rate", type=int, help="resample once here; default: keep each file's")
    p.add_argument("--on-bad-audio", default="error", choices=["error", "skip"])
    p.add_argument("--downmix", action="store_true", help="average multi-channel audio")
    p.add_argument("--seed", type=int, default=0, help="utterance order shuffle")
    p.set_defaults(func=cmd_shards)

    from audiokit.music.prep_cli import add_parsers as add_music_parsers  # chorales, maestro, ...

    add_music_parsers(sub)
    return parser


def _fsdd_source_args(p: argparse.ArgumentParser) -> None:
    """The options every FSDD-derived data set shares: corpus, output, index ranges."""
    p.add_argument("--root", help="local mirror (folder with recordings/); omit to download")
    p.add_argument("--out", required=True, help="where to write the data dirs (and wavs)")
    p.add_argument("--download-dir", default="downloads")
    p.add_argument("--train-index", help="recording index range lo:hi (default 10:50)")
    p.add_argument("--valid-index", help="default 5:10")
    p.add_argument("--test-index", help="default 0:5")


def main(argv: list[str] | None = None) -> None:
    from audiokit.utils.errors import user_errors

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    print(f"audiokit-prep {args.command}")
    with user_errors(f"audiokit-prep {args.command}"):  # bad input: one line, no traceback
        args.func(args)


if __name__ == "__main__":
    main()
