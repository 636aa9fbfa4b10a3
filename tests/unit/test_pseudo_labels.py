"""Self-training's pseudo-label selection: confident, class-balanced, nothing lost silently."""

from pathlib import Path

import pytest

from audiokit.cli.prep import main as prep_main
from audiokit.data.datadir import DataDir, DataDirError, read_kaldi_map, write_kaldi_map
from audiokit.data.pseudo_labels import select_confident, write_pseudo_labelled_dir


def test_select_confident_takes_the_same_number_from_each_class_surest_first():
    guesses = {"a1": "a", "a2": "a", "a3": "a", "a4": "a", "a5": "a", "a6": "a", "b1": "b", "b2": "b"}
    posteriors = {"a1": 0.9, "a2": 0.5, "a3": 0.99, "a4": 0.3, "a5": 0.8, "a6": 0.7,
                  "b1": 0.2, "b2": 0.6}
    # half of 8 guesses over 2 classes: 2 per class; "b" has exactly 2
    assert select_confident(guesses, posteriors, 0.5) == {"a3": "a", "a1": "a", "b2": "b", "b1": "b"}
    # 3 per class: "b" has only 2, and the over-predicted "a" is not allowed to fill the gap
    assert select_confident(guesses, posteriors, 0.75) == {
        "a3": "a", "a1": "a", "a5": "a", "b2": "b", "b1": "b"}
    assert select_confident(guesses, posteriors, 0.0) == {}
    assert select_confident({}, {}, 1.0) == {}


def test_select_confident_breaks_ties_by_id_and_checks_its_input():
    guesses = {"u2": "x", "u1": "x", "u3": "x"}
    assert select_confident(guesses, {"u1": 0.5, "u2": 0.5, "u3": 0.5}, 0.67) == {"u1": "x", "u2": "x"}
    with pytest.raises(ValueError, match="within"):
        select_confident(guesses, {"u1": 1, "u2": 1, "u3": 1}, 1.5)
    with pytest.raises(ValueError, match="'u3'"):
        select_confident(guesses, {"u1": 1, "u2": 1}, 0.5)


def _dir(path: Path, files: dict[str, dict]) -> Path:
    path.mkdir(parents=True)
    for name, entries in files.items():
        write_kaldi_map(path / name, entries)
    return path


def test_pseudo_labelled_dir_is_the_labelled_set_plus_the_confident_guesses(tmp_path):
    labelled = _dir(tmp_path / "labelled", {
        "wav.scp": {"l1": "/a/l1.wav", "l2": "/a/l2.wav"}, "utt2label": {"l1": "0", "l2": "1"},
        "utt2dur": {"l1": "0.5", "l2": "0.6"}})
    # the pool has no labels of its own: only audio and durations
    pool = _dir(tmp_path / "pool", {
        "wav.scp": {f"p{i}": f"/a/p{i}.wav" for i in range(4)},
        "utt2dur": {f"p{i}": "0.4" for i in range(4)}})
    hyp = _dir(tmp_path / "hyp", {
        "utt2label": {"p0": "0", "p1": "0", "p2": "1", "p3": "1"},
        "utt2posterior": {"p0": "0.9", "p1": "0.4", "p2": "0.3", "p3": "0.8"}})
    out = tmp_path / "out"
    assert write_pseudo_labelled_dir(labelled, pool, hyp, 0.5, out) == (2, 2)
    d = DataDir.load(out)
    assert sorted(d.utt_ids) == ["l1", "l2", "p0", "p3"]
    assert read_kaldi_map(out / "utt2label") == {"l1": "0", "l2": "1", "p0": "0", "p3": "1"}
    assert read_kaldi_map(out / "pseudo_labels") == {"p0": "0", "p3": "1"}
    assert set(read_kaldi_map(out / "utt2dur")) == {"l1", "l2", "p0", "p3"}

    # rewritten from a labelled dir without durations: no stale utt2dur is left behind
    (labelled / "utt2dur").unlink()
    write_pseudo_labelled_dir(labelled, pool, hyp, 0.5, out)
    assert not (out / "utt2dur").exists() and sorted(DataDir.load(out).utt_ids) == sorted(d.utt_ids)

    # the same through the CLI
    prep_main(["pseudo-labels", "--labelled", str(labelled), "--unlabelled", str(pool),
               "--hyp", str(hyp), "--share", "1.0", "--out", str(tmp_path / "all")])
    assert len(read_kaldi_map(tmp_path / "all" / "pseudo_labels")) == 4


def test_pseudo_labelled_dir_names_what_is_wrong(tmp_path):
    labelled = _dir(tmp_path / "labelled", {"wav.scp": {"l1": "/a/l1.wav"}, "utt2label": {"l1": "0"}})
    pool = _dir(tmp_path / "pool", {"wav.scp": {"p0": "/a/p0.wav", "p1": "/a/p1.wav"}})
    partial = _dir(tmp_path / "partial", {"utt2label": {"p0": "0"}, "utt2posterior": {"p0": "0.9"}})
    with pytest.raises(DataDirError, match=r"no guess for 1 recording.*'p1'"):
        write_pseudo_labelled_dir(labelled, pool, partial, 0.5, tmp_path / "out")
    leaky = _dir(tmp_path / "leaky", {"wav.scp": {"l1": "/a/l1.wav"}})
    hyp = _dir(tmp_path / "hyp", {"utt2label": {"l1": "0"}, "utt2posterior": {"l1": "0.9"}})
    with pytest.raises(DataDirError, match="'l1' is also in"):
        write_pseudo_labelled_dir(labelled, leaky, hyp, 0.5, tmp_path / "out2")

    bad = _dir(tmp_path / "bad", {"utt2label": {"p0": "0", "p1": "1"},
                                  "utt2posterior": {"p0": "0.9", "p1": "high"}})
    with pytest.raises(DataDirError, match=r"utt2posterior: utterance 'p1': not a number"):
        write_pseudo_labelled_dir(labelled, pool, bad, 0.5, tmp_path / "out3")
