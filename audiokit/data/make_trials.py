"""Verification trials from a data dir's speakers: half target, half nontarget pairs."""

from __future__ import annotations

import random
from collections.abc import Collection

from audiokit.data.datadir import DataDir, DataDirError
from audiokit.inference.trials import Trial


def make_trials(data: DataDir, n: int, seed: int = 0,
                involving: Collection[str] | None = None) -> list[Trial]:
    """``n`` distinct trials (sorted), alternating a same-speaker pair and a pair of two
    different speakers, deterministic given ``seed``. Speakers with a single recording
    cannot give target pairs; they still appear in nontarget ones.

    ``involving`` (speaker names) restricts the trials to those with at least one recording of
    these speakers (e.g. a voice held out of training): target pairs are theirs, and each
    nontarget pair has one of their recordings as enrolment against any other speaker's."""
    if data.utt2spk is None:
        raise DataDirError(f"{data.path}: trials need utt2spk")
    groups = {s: sorted(u) for s, u in data.spk2utt().items()}
    speakers = sorted(groups)
    if involving is not None:
        missing = sorted(set(involving) - set(speakers))
        if missing or not involving:
            raise DataDirError(f"{data.path}: --involving speaker(s) {', '.join(missing) or '(none)'}"
                               f" not in utt2spk (speakers: {', '.join(speakers)})")
    anchors = speakers if involving is None else sorted(set(involving))
    paired = [s for s in anchors if len(groups[s]) >= 2]
    if not paired or len(speakers) < 2:
        raise DataDirError(f"{data.path}: trials need two speakers, one of them "
                           f"{'involved ' if involving is not None else ''}with two or "
                           f"more recordings ({len(speakers)} speaker(s))")
    max_target = sum(len(groups[s]) * (len(groups[s]) - 1) // 2 for s in paired)
    if n // 2 > max_target:
        raise DataDirError(f"{data.path}: {n} trials need {n // 2} target pairs; only "
                           f"{max_target} exist")
    if involving is not None:
        max_nontarget = sum(len(groups[s]) * (len(data) - len(groups[s])) for s in anchors)
        if n - n // 2 > max_nontarget:
            raise DataDirError(f"{data.path}: {n} trials need {n - n // 2} nontarget pairs; only "
                               f"{max_nontarget} exist")
    rng = random.Random(seed)
    trials: set[Trial] = set()
    while len(trials) < n:
        if len(trials) % 2 == 0:
            spk = rng.choice(paired)
            a, b = rng.sample(groups[spk], 2)
            trial = Trial(a, b, True)
        else:
            if involving is None:
                s1, s2 = rng.sample(speakers, 2)
            else:
                s1 = rng.choice(anchors)
                s2 = rng.choice([s for s in speakers if s != s1])
            trial = Trial(rng.choice(groups[s1]), rng.choice(groups[s2]), False)
        trials.add(trial)
    return sorted(trials)
