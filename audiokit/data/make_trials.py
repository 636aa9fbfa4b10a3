"""Verification trials from a data dir's speakers: half target, half nontarget pairs."""

from __future__ import annotations

import random

from audiokit.data.datadir import DataDir, DataDirError
from audiokit.inference.trials import Trial


def make_trials(data: DataDir, n: int, seed: int = 0) -> list[Trial]:
    """``n`` distinct trials (sorted), alternating a same-speaker pair and a pair of two
    different speakers, deterministic given ``seed``. Speakers with a single recording
    cannot give target pairs; they still appear in nontarget ones."""
    if data.utt2spk is None:
        raise DataDirError(f"{data.path}: trials need utt2spk")
    groups = {s: sorted(u) for s, u in data.spk2utt().items()}
    speakers = sorted(groups)
    paired = [s for s in speakers if len(groups[s]) >= 2]
    if not paired or len(speakers) < 2:
        raise DataDirError(f"{data.path}: trials need two speakers, one of them with two or "
                           f"more recordings ({len(speakers)} speaker(s))")
    max_target = sum(len(groups[s]) * (len(groups[s]) - 1) // 2 for s in paired)
    if n // 2 > max_target:
        raise DataDirError(f"{data.path}: {n} trials need {n // 2} target pairs; only "
                           f"{max_target} exist")
    rng = random.Random(seed)
    trials: set[Trial] = set()
    while len(trials) < n:
        if len(trials) % 2 == 0:
            spk = rng.choice(paired)
            a, b = rng.sample(groups[spk], 2)
            trial = Trial(a, b, True)
        else:
            s1, s2 = rng.sample(speakers, 2)
            trial = Trial(rng.choice(groups[s1]), rng.choice(groups[s2]), False)
        trials.add(trial)
    return sorted(trials)

