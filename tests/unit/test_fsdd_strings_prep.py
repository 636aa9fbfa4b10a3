"""FSDD digit strings on a tiny slice of the real corpus: determinism, and onset cutting that
shortens only training recordings and leaves the strings drawn as they were."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiokit.data.corpora.fsdd_strings import ONSET_FRAME, WORDS, cut_onset, prepare
from audiokit.data.datadir import DataDir

SPLITS = {"train": ((10, 13), 6), "valid": ((5, 6), 3), "test": ((0, 2), 4)}


def _strings(fsdd_root, out, **kwargs) -> dict[str, DataDir]:
    return prepare(fsdd_root, out, SPLITS, speakers=["theo", "george"], seed=5, **kwargs)


@pytest.fixture(scope="module")
def plain_and_cut(fsdd_root, tmp_path_factory):
    base = tmp_path_factory.mktemp("strings")
    return _strings(fsdd_root, base / "plain"), _strings(fsdd_root, base / "cut", onset_cut_prob=1.0)


def test_strings_are_digit_words_of_one_speaker(plain_and_cut):
    plain, _ = plain_and_cut
    for name, (_, count) in SPLITS.items():
        d = plain[name]
        assert len(d) == 2 * count
        for utt, text in d.text.items():
            words = text.split()
            assert 1 <= len(words) <= 6 and set(words) <= set(WORDS)
            assert utt.startswith(d.utt2spk[utt] + "-")


def test_onset_cutting_shortens_training_strings_only(plain_and_cut):
    plain, cut = plain_and_cut
    for name in SPLITS:
        assert cut[name].text == plain[name].text  # the same strings are drawn
    train = [(plain["train"].utt2dur[u], cut["train"].utt2dur[u]) for u in plain["train"].text]
    assert all(c < p for p, c in train)
    for name in ("valid", "test"):
        for utt, path in plain[name].wav_scp.items():
            assert np.array_equal(sf.read(path)[0], sf.read(cut[name].wav_scp[utt])[0])


def test_cut_onset_starts_at_the_first_loud_frame():
    quiet, loud = 0.001 * np.ones(3 * ONSET_FRAME), 0.5 * np.ones(5 * ONSET_FRAME)
    fade = 0.05 * np.ones(2 * ONSET_FRAME)  # 20 dB below the loud part
    audio = np.concatenate([quiet, fade, loud, quiet])
    assert len(cut_onset(audio, 25.0)) == len(audio) - 3 * ONSET_FRAME  # keeps the fade
    assert len(cut_onset(audio, 10.0)) == len(audio) - 5 * ONSET_FRAME  # cuts it too
    assert len(cut_onset(audio[:ONSET_FRAME], 10.0)) == ONSET_FRAME  # too short to judge
