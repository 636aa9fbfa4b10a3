"""AMI diarization prep on a tiny tree in the real layouts (AMI-diarization-setup + amicorpus):
data dirs, references, UEMs, missing audio, and the recipe's stage 1."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import REPO

from audiokit.cli import prep
from audiokit.data.corpora import ami
from audiokit.data.datadir import DataDir, DataDirError
from audiokit.data.diarization import DiarizationDataset
from audiokit.data.rttm import Turn, read_rttm

SR = 16000
# split -> meeting -> (seconds of audio, RTTM lines as the setup writes them, UEM line)
SETUP = {
    "train": {
        "ES2002a": (1.5, ["SPEAKER ES2002a 1 0.82 0.4 <NA> <NA> MEE006 <NA> <NA>",
                          "SPEAKER ES2002a 1 0.1 0.61 <NA> <NA> FEE005 <NA> <NA>",
                          "SPEAKER ES2002a 1 0.5 0.33 <NA> <NA> MEE007 <NA> <NA>"],
                    "ES2002a 1 0.000 1.500000"),
        "EN2001a": (1.0, ["SPEAKER EN2001a 1 0.2 0.5 <NA> <NA> FEO065 <NA> <NA>",
                          "SPEAKER EN2001a 1 0.6 0.3 <NA> <NA> MEE068 <NA> <NA>"],
                    "EN2001a 1 0.100 0.950000"),
    },
    "dev": {"IB4001": (1.25, ["SPEAKER IB4001 1 0.05 1.1 <NA> <NA> FIE038 <NA> <NA>"],
                       "IB4001 1 0.000 1.250000")},
    "test": {"EN2002a": (0.75, ["SPEAKER EN2002a 1 0.1 0.3 <NA> <NA> FEE013 <NA> <NA>",
                                "SPEAKER EN2002a 1 0.3 0.2 <NA> <NA> MEE014 <NA> <NA>"],
                         "EN2002a 1 0.000 0.750000")},
}
MIC_FILES = {"headset-mix": "Mix-Headset", "array1-01": "Array1-01"}


def make_tree(base: Path, mics=("headset-mix",)) -> tuple[Path, Path]:
    """(audio root = amicorpus, setup root) holding SETUP."""
    audio, setup = base / "amicorpus", base / "AMI-diarization-setup"
    rng = np.random.default_rng(0)
    for split, meetings in SETUP.items():
        (setup / "lists").mkdir(parents=True, exist_ok=True)
        # the setup's lists are not sorted; the data dirs are
        (setup / "lists" / f"{split}.meetings.txt").write_text("".join(f"{m}\n" for m in meetings))
        for folder in ("only_words/rttms", "uems"):
            (setup / folder / split).mkdir(parents=True, exist_ok=True)
        for meeting, (seconds, rttm, uem) in meetings.items():
            (setup / "only_words/rttms" / split / f"{meeting}.rttm").write_text(
                "".join(f"{line}\n" for line in rttm))
            (setup / "uems" / split / f"{meeting}.uem").write_text(f"{uem}\n")
            (audio / meeting / "audio").mkdir(parents=True, exist_ok=True)
            for mic in mics:
                sf.write(audio / meeting / "audio" / f"{meeting}.{MIC_FILES[mic]}.wav",
                         (0.1 * rng.standard_normal(int(seconds * SR))).astype("float32"), SR)
    return audio, setup


def rewritten(line: str) -> tuple[float, str]:
    """(start, the line as audiokit.data.rttm.write_rttm writes it: times to 1 ms)."""
    f = line.split()
    start, end = round(float(f[3]), 3), round(float(f[3]) + float(f[4]), 3)
    return start, f"SPEAKER {f[1]} 1 {start:.3f} {end - start:.3f} <NA> <NA> {f[7]} <NA> <NA>"


def expected_files(audio: Path, split: str, mic: str = "Mix-Headset") -> dict[str, str]:
    meetings = sorted(SETUP[split])
    rttm = [line for m in meetings for _, line in sorted(map(rewritten, SETUP[split][m][1]))]
    return {
        "wav.scp": "".join(f"{m} {(audio / m / 'audio' / f'{m}.{mic}.wav').resolve()}\n"
                           for m in meetings),
        "utt2spk": "".join(f"{m} {m}\n" for m in meetings),
        "spk2utt": "".join(f"{m} {m}\n" for m in meetings),
        "utt2dur": "".join(f"{m} {SETUP[split][m][0]:.4f}\n" for m in meetings),
        "rttm": "".join(f"{line}\n" for line in rttm),
        "uem": "".join(f"{SETUP[split][m][2]}\n" for m in meetings),
        "reco2num_spk": "".join(f"{m} {len(SETUP[split][m][1])}\n" for m in meetings),
    }


def check_dir(out: Path, expected: dict[str, str]) -> None:
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    for name, text in expected.items():
        assert (out / name).read_text() == text, name


@pytest.fixture
def tree(tmp_path) -> tuple[Path, Path]:
    return make_tree(tmp_path / "corpus")


def test_writes_every_file_exactly(tree, tmp_path):
    audio, setup = tree
    dirs = ami.prepare(audio, setup, tmp_path / "data", num_workers=2)
    assert list(dirs) == ["train", "dev", "test"]
    for split in SETUP:
        check_dir(tmp_path / "data" / split, expected_files(audio, split))
    train = DataDir.load(tmp_path / "data/train")  # passes the loader's cross-checks
    assert train.utt_ids == ["EN2001a", "ES2002a"]
    assert train.utt2dur["ES2002a"] == pytest.approx(1.5)
    # meetings in wav.scp order, turns sorted by start, times to 1 ms
    assert (tmp_path / "data/train/rttm").read_text() == (
        "SPEAKER EN2001a 1 0.200 0.500 <NA> <NA> FEO065 <NA> <NA>\n"
        "SPEAKER EN2001a 1 0.600 0.300 <NA> <NA> MEE068 <NA> <NA>\n"
        "SPEAKER ES2002a 1 0.100 0.610 <NA> <NA> FEE005 <NA> <NA>\n"
        "SPEAKER ES2002a 1 0.500 0.330 <NA> <NA> MEE007 <NA> <NA>\n"
        "SPEAKER ES2002a 1 0.820 0.400 <NA> <NA> MEE006 <NA> <NA>\n")
    assert read_rttm(tmp_path / "data/train/rttm")["ES2002a"][0] == \
        Turn(0.1, pytest.approx(0.71), "FEE005")
    items = DiarizationDataset(tmp_path / "data/train", SR)  # what diarization training reads
    assert [(it["id"], tuple(it["labels"].shape)) for it in items] == [("EN2001a", (100, 2)),
                                                                      ("ES2002a", (150, 3))]


def test_zero_length_turns_are_left_out_and_listed(tree, tmp_path, caplog):
    audio, setup = tree
    rttm = setup / "only_words/rttms/dev/IB4001.rttm"
    rttm.write_text(rttm.read_text() + "SPEAKER IB4001 1 0.9 0.0 <NA> <NA> MIO092 <NA> <NA>\n")
    with caplog.at_level(logging.WARNING):
        ami.prepare(audio, setup, tmp_path / "data", splits=["dev"])
    assert "IB4001.rttm: 1 zero-length turn(s) left out (lines 2)" in caplog.text
    check_dir(tmp_path / "data/dev", expected_files(audio, "dev"))


def test_rerun_is_identical_and_the_parent_folder_works(tree, tmp_path):
    audio, setup = tree
    ami.prepare(audio, setup, tmp_path / "a", splits=["dev"])
    before = {p.name: p.read_text() for p in (tmp_path / "a/dev").iterdir()}
    ami.prepare(audio.parent, setup, tmp_path / "a", splits=["dev"])  # the folder holding amicorpus
    assert {p.name: p.read_text() for p in (tmp_path / "a/dev").iterdir()} == before


def test_far_field_mic(tmp_path):
    audio, setup = make_tree(tmp_path / "corpus", mics=("array1-01",))
    ami.prepare(audio, setup, tmp_path / "data", mic="array1-01", splits=["test"])
    check_dir(tmp_path / "data/test", expected_files(audio, "test", "Array1-01"))
    with pytest.raises(DataDirError, match=r"meeting 'EN2002a' of test: no audio at "
                                           r".*amicorpus/EN2002a/audio/EN2002a\.Mix-Headset\.wav"):
        ami.prepare(audio, setup, tmp_path / "data", splits=["test"])  # headset mix not there
    with pytest.raises(ValueError, match=r"mic 'array2-01'"):
        ami.prepare(audio, setup, tmp_path / "data", mic="array2-01")


def test_missing_audio_names_meeting_and_path(tree, tmp_path):
    audio, setup = tree
    (audio / "ES2002a/audio/ES2002a.Mix-Headset.wav").unlink()
    with pytest.raises(DataDirError, match=r"meeting 'ES2002a' of train: no audio at "
                                           r"\S*corpus/amicorpus/ES2002a/audio/"
                                           r"ES2002a\.Mix-Headset\.wav \(mic headset-mix"):
        ami.prepare(audio, setup, tmp_path / "data")
    assert not (tmp_path / "data").exists()  # checked before anything is written


def test_skip_missing_lists_and_skips(tree, tmp_path, caplog):
    audio, setup = tree
    (audio / "ES2002a/audio/ES2002a.Mix-Headset.wav").unlink()
    with caplog.at_level(logging.WARNING):
        ami.prepare(audio, setup, tmp_path / "data", skip_missing=True)
    assert "train: skipping 1 of 2 meeting(s) without audio: ES2002a (" in caplog.text
    assert "ES2002a.Mix-Headset.wav" in caplog.text
    train = DataDir.load(tmp_path / "data/train")
    assert train.utt_ids == ["EN2001a"]
    assert "ES2002a" not in (tmp_path / "data/train/rttm").read_text()
    assert (tmp_path / "data/train/uem").read_text() == "EN2001a 1 0.100 0.950000\n"
    check_dir(tmp_path / "data/dev", expected_files(audio, "dev"))
    (audio / "EN2001a/audio/EN2001a.Mix-Headset.wav").unlink()  # a split left with no audio
    with pytest.raises(DataDirError, match=r"split 'train': none of its 2 meetings has audio"):
        ami.prepare(audio, setup, tmp_path / "data", skip_missing=True)


@pytest.mark.parametrize("line,message", [
    ("SPEAKER IB4001 1 0.5 0.2 <NA> <NA> FIE038", r"expected 10 fields"),
    ("SPEAKER IB4002 1 0.5 0.2 <NA> <NA> FIE038 <NA> <NA>",
     r"file field 'IB4002' is not the meeting 'IB4001'"),
    ("SPEAKER IB4001 1 0.5 -0.2 <NA> <NA> FIE038 <NA> <NA>", r"duration '-0.2' is negative"),
    ("SPEAKER IB4001 1 abc 0.2 <NA> <NA> FIE038 <NA> <NA>", r"onset 'abc' is not a number"),
])
def test_bad_rttm_line_names_file_and_line(tree, tmp_path, line, message):
    audio, setup = tree
    rttm = setup / "only_words/rttms/dev/IB4001.rttm"
    rttm.write_text(rttm.read_text() + line + "\n")
    with pytest.raises(DataDirError, match=rf"rttms/dev/IB4001\.rttm:2: {message}"):
        ami.prepare(audio, setup, tmp_path / "data", splits=["dev"])


def test_missing_reference_uem_and_list(tree, tmp_path, caplog):
    audio, setup = tree
    (setup / "uems/dev/IB4001.uem").unlink()
    with pytest.raises(DataDirError, match=r"uems/dev/IB4001\.uem: UEM of meeting 'IB4001' "
                                           r"not found"):
        ami.prepare(audio, setup, tmp_path / "data", splits=["dev"])
    (setup / "uems/dev").rmdir()  # no UEMs for the split at all: a warning, no uem file
    with caplog.at_level(logging.WARNING):
        ami.prepare(audio, setup, tmp_path / "data", splits=["dev"])
    assert "split 'dev' gets no uem file" in caplog.text
    assert not (tmp_path / "data/dev/uem").exists()
    (setup / "only_words/rttms/dev/IB4001.rttm").unlink()
    with pytest.raises(DataDirError, match=r"rttms/dev/IB4001\.rttm: reference RTTM of meeting "
                                           r"'IB4001' not found"):
        ami.prepare(audio, setup, tmp_path / "data", splits=["dev"])
    (setup / "lists/dev.meetings.txt").unlink()
    with pytest.raises(DataDirError, match=r"lists/dev\.meetings\.txt: meeting list not found"):
        ami.prepare(audio, setup, tmp_path / "data", splits=["dev"])


def test_meeting_listed_twice(tree, tmp_path):
    audio, setup = tree
    (setup / "lists/train.meetings.txt").write_text("ES2002a\nEN2001a\nES2002a\n")
    with pytest.raises(DataDirError, match=r"train\.meetings\.txt:3: meeting 'ES2002a' listed "
                                           r"twice \(first at line 1\)"):
        ami.prepare(audio, setup, tmp_path / "data", splits=["train"])


def test_cli(tree, tmp_path, capsys):
    audio, setup = tree
    (audio / "ES2002a/audio/ES2002a.Mix-Headset.wav").unlink()
    with pytest.raises(SystemExit, match=r"audiokit-prep ami: error: meeting 'ES2002a' of train: "
                                         r"no audio at .*ES2002a\.Mix-Headset\.wav"):
        prep.main(["ami", "--audio-root", str(audio), "--setup-root", str(setup),
                   "--out", str(tmp_path / "data")])
    assert not (tmp_path / "data").exists()
    prep.main(["ami", "--audio-root", str(audio), "--setup-root", str(setup),
               "--out", str(tmp_path / "data"), "--skip-missing"])
    out = capsys.readouterr().out
    assert "train: 1 meeting(s), 2 speakers each, 0.00 h, rttm, uem" in out
    assert "test: 1 meeting(s), 2 speakers each" in out
    check_dir(tmp_path / "data/test", expected_files(audio, "test"))
    (audio / "IB4001/audio/IB4001.Mix-Headset.wav").unlink()  # dev left without any audio
    with pytest.raises(SystemExit, match=r"split 'dev': none of its 1 meetings has audio"):
        prep.main(["ami", "--audio-root", str(audio), "--setup-root", str(setup),
                   "--out", str(tmp_path / "data2"), "--skip-missing", "--splits", "train,dev"])


def run_recipe(*args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("AMI_ROOT", "AMI_SETUP_ROOT")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return subprocess.run([str(REPO / "recipes/ami/diar/run.sh"), *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=1200)


def test_recipe_stage_1(tree, tmp_path):
    audio, setup = tree
    proc = run_recipe("--help")
    assert proc.returncode == 0 and "1  prepare data dirs" in proc.stdout, proc.stderr
    proc = run_recipe("--stage", "1", "--stop-stage", "1", "--data-dir", tmp_path / "data",
                      "--exp-dir", tmp_path / "exp", "--setup-root", setup)
    assert proc.returncode == 2 and "give --audio-root (or set AMI_ROOT)" in proc.stderr
    proc = run_recipe("--stage", "1", "--stop-stage", "1", "--data-dir", tmp_path / "data",
                      "--exp-dir", tmp_path / "exp", "--audio-root", audio,
                      "--setup-root", setup)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "=== stage 1: prepare data dirs" in proc.stdout
    assert "=== stage 2" not in proc.stdout
    for split in SETUP:
        check_dir(tmp_path / "data" / split, expected_files(audio, split))
    assert (tmp_path / "exp/.done/stage1").is_file()


@pytest.mark.slow
def test_recipe_end_to_end_with_eend(tree, tmp_path):
    """Every stage on the fixture tree (noise, not speech: this checks the wiring, UEM-scored
    DER included, not what a model learns; recipes/fsdd/diar's test trains on real audio)."""
    audio, setup = tree
    exp = tmp_path / "exp"
    proc = run_recipe("--data-dir", tmp_path / "data", "--exp-dir", exp, "--audio-root", audio,
                      "--setup-root", setup, "--experiment", "diar/ami_eend", "--",
                      "model.d_model=32", "model.num_layers=1", "model.ff_dim=64",
                      "trainer.max_epochs=1", "data.num_workers=0", "callbacks.progress=null",
                      "average_checkpoints=1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (exp / "tuned/overrides").read_text().startswith("diarization.threshold=")
    for name in ("dev", "test"):
        assert (exp / "infer" / name / "rttm").is_file()
        report = (exp / "scores" / name / "report.json").read_text()
        assert '"collars"' in report
    assert "DER" in (exp / "RESULTS.md").read_text()
