"""Pseudo-labels for self-training: a classifier's most confident guesses on unlabelled audio.

A teacher classifies the unlabelled recordings (``audiokit-infer`` writes ``utt2label`` and
``utt2posterior``); the student then trains on the labelled set plus the share of guesses the
teacher is surest of. The same number is taken from every predicted class, so a teacher that
over-predicts one class cannot flood the student with it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from audiokit.data.datadir import DataDirError, parse_float, read_kaldi_map, write_kaldi_map


def select_confident(
    guesses: dict[str, str], posteriors: dict[str, float], share: float
) -> dict[str, str]:
    """The most confident ``share`` of ``guesses``: ``floor(share * len / classes)`` per class
    (fewer where a class has fewer guesses), highest posterior first, ties by utterance id."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be within [0, 1], got {share}")
    missing = sorted(set(guesses) - set(posteriors))
    if missing:
        raise ValueError(f"no posterior for {len(missing)} guessed utterance(s), e.g. '{missing[0]}'")
    by_class: dict[str, list[str]] = defaultdict(list)
    for utt, label in guesses.items():
        by_class[label].append(utt)
    if not by_class:
        return {}
    per_class = math.floor(share * len(guesses) / len(by_class))
    chosen: dict[str, str] = {}
    for label, utts in by_class.items():
        utts.sort(key=lambda u: (-posteriors[u], u))
        chosen.update((u, label) for u in utts[:per_class])
    return chosen


def write_pseudo_labelled_dir(labelled: Path, unlabelled: Path, hyp: Path, share: float,
                              out: Path) -> tuple[int, int]:
    """``out`` = the labelled data dir plus the confident share of ``hyp``'s guesses on the
    ``unlabelled`` dir's audio. Returns (labelled, pseudo-labelled) counts. An unlabelled
    recording the teacher did not classify is an error, not a silent gap."""
    audio = read_kaldi_map(unlabelled / "wav.scp")
    guesses = read_kaldi_map(hyp / "utt2label")
    posteriors = {u: parse_float(hyp / "utt2posterior", u, p)
                  for u, p in read_kaldi_map(hyp / "utt2posterior").items()}
    unguessed = sorted(set(audio) - set(guesses))
    if unguessed:
        raise DataDirError(f"{hyp}/utt2label: no guess for {len(unguessed)} recording(s) of "
                           f"{unlabelled}/wav.scp, e.g. '{unguessed[0]}'")
    wav_scp, labels = read_kaldi_map(labelled / "wav.scp"), read_kaldi_map(labelled / "utt2label")
    overlap = sorted(set(audio) & set(wav_scp))
    if overlap:
        raise DataDirError(f"{unlabelled}/wav.scp: '{overlap[0]}' is also in {labelled}: the "
                           "unlabelled pool must leave the labelled recordings out")
    pseudo = select_confident({u: guesses[u] for u in audio}, posteriors, share)
    out.mkdir(parents=True, exist_ok=True)
    write_kaldi_map(out / "wav.scp", {**wav_scp, **{u: audio[u] for u in pseudo}})
    write_kaldi_map(out / "utt2label", {**labels, **pseudo})
    durations = {}
    for d in (labelled, unlabelled):
        if (d / "utt2dur").is_file():
            durations.update(read_kaldi_map(d / "utt2dur"))
    kept = [*wav_scp, *pseudo]
    if all(u in durations for u in kept):  # a partial utt2dur would be a malformed data dir
        write_kaldi_map(out / "utt2dur", {u: durations[u] for u in kept})
    else:
        (out / "utt2dur").unlink(missing_ok=True)  # not a stale one from an earlier round
    write_kaldi_map(out / "pseudo_labels", pseudo)  # which labels are guesses, for scoring them
    return len(wav_scp), len(pseudo)
