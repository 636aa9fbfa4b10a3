"""audiokit-prep esc50 on a tiny tree in the real ESC-50 layout (audio/, meta/esc50.csv)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from audiokit.data.corpora import esc50
from audiokit.data.datadir import DataDir, DataDirError

HEADER = "filename,fold,target,category,esc10,src_file,take\n"


def write_tree(root, rows):
    (root / "audio").mkdir(parents=True)
    (root / "meta").mkdir()
    lines = [HEADER]
    for fold, target, category, esc10, src, take in rows:
        name = f"{fold}-{src}-{take}-{target}.wav"
        sf.write(root / "audio" / name, 0.01 * np.random.randn(4410), 44100)
        lines.append(f"{name},{fold},{target},{category},{esc10},{src},{take}\n")
    (root / "meta" / "esc50.csv").write_text("".join(lines))


ROWS = [(fold, target, category, esc10, f"{100 + fold}{target}", take)
        for fold in (1, 2, 3, 4, 5)
        for target, category, esc10 in ((0, "dog", "True"), (1, "rooster", "True"), (7, "insects", "False"))
        for take in ("A", "B")]


def test_folds_become_train_valid_test(tmp_path):
    write_tree(tmp_path / "ESC-50", ROWS)
    dirs = esc50.prepare(tmp_path / "ESC-50", tmp_path / "data", test_fold=5)
    assert {name: len(d) for name, d in dirs.items()} == {"test": 6, "valid": 6, "train": 18}
    test = DataDir.load(tmp_path / "data" / "test")
    assert all(u.startswith("5-") for u in test.wav_scp)           # fold 5 is test
    assert all(u.startswith("1-") for u in DataDir.load(tmp_path / "data" / "valid").wav_scp)
    assert test.utt2label["5-1050-A-0"] == ["dog"]
    assert test.utt2spk["5-1050-A-0"] == test.utt2spk["5-1050-B-0"] == "1050"  # takes of one source
    assert test.utt2dur["5-1051-B-1"] == pytest.approx(0.1)
    assert (tmp_path / "data" / "labels.txt").read_text().split() == ["dog", "rooster", "insects"]


def test_esc10_subset_and_another_test_fold(tmp_path):
    write_tree(tmp_path / "ESC-50", ROWS)
    dirs = esc50.prepare(tmp_path / "ESC-50", tmp_path / "data", test_fold=2, esc10=True)
    assert {name: len(d) for name, d in dirs.items()} == {"test": 4, "valid": 4, "train": 12}
    assert all(u.startswith("3-") for u in dirs["valid"].wav_scp)
    assert {v[0] for d in dirs.values() for v in d.utt2label.values()} == {"dog", "rooster"}


def test_bad_trees_are_named(tmp_path):
    with pytest.raises(DataDirError, match="esc50.csv: no such file"):
        esc50.prepare(tmp_path, tmp_path / "out")
    write_tree(tmp_path / "ESC-50", ROWS[:1] + [(9, 0, "dog", "True", "999", "A")])
    with pytest.raises(DataDirError, match=r"esc50.csv:3: fold '9'"):
        esc50.prepare(tmp_path / "ESC-50", tmp_path / "out")
    write_tree(tmp_path / "gone", ROWS)
    (tmp_path / "gone" / "audio" / "5-1050-A-0.wav").unlink()
    with pytest.raises(DataDirError, match="5-1050-A-0.wav: no such file"):
        esc50.prepare(tmp_path / "gone", tmp_path / "out")


def test_cli(tmp_path):
    write_tree(tmp_path / "ESC-50", ROWS)
    proc = subprocess.run([sys.executable, "-m", "audiokit.cli.prep", "esc50", "--root",
                           str(tmp_path / "ESC-50"), "--out", str(tmp_path / "data"),
                           "--test-fold", "1"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"{tmp_path / 'data' / 'test'}: 6 clips, 3 classes" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "audiokit.cli.prep", "esc50", "--root",
                          str(tmp_path / "none"), "--out", str(tmp_path / "x")],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "audiokit-prep esc50: error:" in bad.stderr
