"""audiokit-prep ljspeech on a tiny tree in the real LJSpeech-1.1 layout (metadata.csv with
id|raw|normalized, wavs/<id>.wav at 22,050 Hz): the split, the normalized text, bad trees named."""

from __future__ import annotations

import subprocess
import sys

import pytest
from ljspeech_tree import rows, write_ljspeech_tree

from audiokit.data.corpora import ljspeech
from audiokit.data.datadir import DataDir, DataDirError


def test_last_sorted_ids_are_test_then_valid(tmp_path):
    metadata = rows(12)
    corpus = write_ljspeech_tree(tmp_path, metadata[::-1])  # file order must not matter
    dirs = ljspeech.prepare(tmp_path, tmp_path / "data", valid_count=2, test_count=3)
    ids = sorted(utt for utt, _, _ in metadata)
    assert {name: list(d.wav_scp) for name, d in dirs.items()} == {
        "train": ids[:7], "valid": ids[7:9], "test": ids[9:]}
    test = DataDir.load(tmp_path / "data" / "test")  # written and read back
    assert list(test.wav_scp) == ["LJ003-0002", "LJ003-0003", "LJ003-0004"]
    assert test.wav_scp["LJ003-0004"] == str((corpus / "wavs" / "LJ003-0004.wav").resolve())
    # the third (normalized) column, not the raw one
    assert test.text["LJ003-0004"] == "Mister Smith read page one two."
    assert set(test.utt2spk.values()) == {"LJ"}
    assert test.utt2dur["LJ003-0004"] == pytest.approx(0.3, abs=1e-4)
    assert (tmp_path / "data" / "train" / "spk2utt").read_text().split()[:2] == ["LJ", "LJ001-0001"]
    # the LJSpeech-1.1 folder itself is a root too, and a second run writes the same files
    before = (tmp_path / "data" / "train" / "text").read_text()
    ljspeech.prepare(corpus, tmp_path / "data", valid_count=2, test_count=3)
    assert (tmp_path / "data" / "train" / "text").read_text() == before


def test_default_split_is_espnets_250_and_250():
    ids = [f"LJ{i:06d}" for i in range(1000)]
    split = ljspeech.split_ids(ids[::-1], 250, 250)
    assert split["test"] == ids[750:] and split["valid"] == ids[500:750] and split["train"] == ids[:500]
    with pytest.raises(DataDirError, match="1000 utterances leave none for train"):
        ljspeech.split_ids(ids, 500, 500)


def test_bad_trees_are_named(tmp_path):
    with pytest.raises(DataDirError, match="metadata.csv: no such file"):
        ljspeech.prepare(tmp_path, tmp_path / "out")
    corpus = write_ljspeech_tree(tmp_path / "fields", rows(6))
    lines = (corpus / "metadata.csv").read_text().splitlines()
    lines[3] = "LJ001-0004|only the raw text"
    (corpus / "metadata.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataDirError, match=r"LJSpeech-1.1/metadata.csv:4: expected 3 fields .* got 2"):
        ljspeech.prepare(tmp_path / "fields", tmp_path / "out", 1, 1)
    lines[3] = "LJ001-0004|raw|"
    (corpus / "metadata.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataDirError, match=r"metadata.csv:4: LJ001-0004: empty normalized"):
        ljspeech.prepare(tmp_path / "fields", tmp_path / "out", 1, 1)
    lines[3] = lines[1]
    (corpus / "metadata.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataDirError, match=r"metadata.csv:4: LJ001-0002: repeated id \(first on line 2\)"):
        ljspeech.prepare(tmp_path / "fields", tmp_path / "out", 1, 1)

    corpus = write_ljspeech_tree(tmp_path / "gone", rows(6))
    (corpus / "wavs" / "LJ002-0001.wav").unlink()
    with pytest.raises(DataDirError, match=r"metadata.csv:5: LJ002-0001: no such file .*wavs/LJ002-0001.wav"):
        ljspeech.prepare(tmp_path / "gone", tmp_path / "out", 1, 1)

    corpus = write_ljspeech_tree(tmp_path / "latin1", rows(6))
    text = (corpus / "metadata.csv").read_text().replace("Mister Smith read page three", "Mister Smith lit le café")
    (corpus / "metadata.csv").write_bytes(text.encode("latin-1"))
    with pytest.raises(DataDirError, match=r"metadata.csv:3: not UTF-8 text \(byte 0xe9"):
        ljspeech.prepare(tmp_path / "latin1", tmp_path / "out", 1, 1)


def test_cli(tmp_path):
    write_ljspeech_tree(tmp_path, rows(8))
    proc = subprocess.run([sys.executable, "-m", "audiokit.cli.prep", "ljspeech", "--root", str(tmp_path),
                           "--out", str(tmp_path / "data"), "--valid-count", "1", "--test-count", "2"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"{tmp_path / 'data' / 'train'}: 5 utterances" in proc.stdout
    assert f"{tmp_path / 'data' / 'test'}: 2 utterances" in proc.stdout
    (tmp_path / "LJSpeech-1.1" / "wavs" / "LJ001-0003.wav").unlink()
    bad = subprocess.run([sys.executable, "-m", "audiokit.cli.prep", "ljspeech", "--root", str(tmp_path),
                          "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith("audiokit-prep ljspeech: error: ")
    assert "metadata.csv:3: LJ001-0003: no such file" in bad.stderr
