"""recipes/voxceleb/sv stage 1 on a tiny VoxCeleb1 tree of real speech (FSDD recordings written
as 16 kHz wavs in the VoxCeleb layout): data dirs, the held-out validation set, the trials, and
the errors for a missing corpus root. Training is covered by the FSDD recipe's test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch
import torchaudio
from conftest import REPO

from audiokit.data.datadir import DataDir
from audiokit.inference.trials import read_trials

RECIPE = REPO / "recipes/voxceleb/sv/run.sh"
SR = 16000
# part -> VoxCeleb speaker id -> (FSDD speaker, {YouTube id: [(segment number, FSDD recording)]})
CORPUS = {
    "dev": {"id10001": ("george", {"1zcIwhmdeo4": [(1, "0_george_10"), (2, "1_george_11")],
                                   "7gWzIy6yIIk": [(1, "2_george_12"), (3, "3_george_13")]}),
            "id10002": ("jackson", {"-3Wn5kbqZQ8": [(1, "4_jackson_10"), (2, "5_jackson_11")],
                                    "Y8hIVOBuels": [(4, "6_jackson_12"), (5, "7_jackson_13")]})},
    "test": {"id10270": ("nicolas", {"x6uYqmx31kE": [(1, "0_nicolas_0"), (2, "1_nicolas_1")],
                                     "8jEAjG6SegY": [(8, "2_nicolas_2")]}),
             "id10271": ("theo", {"1gtz-CUIygI": [(1, "3_theo_0"), (2, "4_theo_1")]})},
}
VERI_TEST2 = """\
1 id10270/x6uYqmx31kE/00001.wav id10270/8jEAjG6SegY/00008.wav
0 id10270/x6uYqmx31kE/00001.wav id10271/1gtz-CUIygI/00001.wav
1 id10271/1gtz-CUIygI/00002.wav id10271/1gtz-CUIygI/00001.wav
0 id10271/1gtz-CUIygI/00002.wav id10270/x6uYqmx31kE/00002.wav
"""


def utts(part: str) -> list[str]:
    return sorted(f"{spk}-{video}-{n:05d}" for spk, (_, videos) in CORPUS[part].items()
                  for video, segments in videos.items() for n, _ in segments)


@pytest.fixture(scope="module")
def voxceleb_root(fsdd_root, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("vox") / "VoxCeleb"
    for part, speakers in CORPUS.items():
        for spk, (_, videos) in speakers.items():
            for video, segments in videos.items():
                folder = root / "voxceleb1" / part / "wav" / spk / video
                folder.mkdir(parents=True)
                for n, recording in segments:
                    audio, rate = sf.read(fsdd_root / "recordings" / f"{recording}.wav",
                                          dtype="float32")
                    audio = torchaudio.functional.resample(torch.from_numpy(audio), rate, SR)
                    sf.write(folder / f"{n:05d}.wav", audio.numpy(), SR)
    (root / "voxceleb1" / "veri_test2.txt").write_text(VERI_TEST2)
    return root


def run(*args, root: Path | str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "VOXCELEB_ROOT"}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    if root is not None:
        env["VOXCELEB_ROOT"] = str(root)
    return subprocess.run([str(RECIPE), *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=300)


def test_help_lists_the_stages():
    proc = run("--help")
    assert proc.returncode == 0, proc.stderr
    for n, name in enumerate(["prepare data dirs from $VOXCELEB_ROOT", "train the embedding",
                              "embed the test sets", "score: EER"], 1):
        assert f"  {n}  {name}" in proc.stdout


def test_missing_corpus_root_fails_loudly(tmp_path):
    common = ("--stage", "1", "--stop-stage", "1", "--data-dir", tmp_path / "data",
              "--exp-dir", tmp_path / "exp")
    proc = run(*common)
    assert proc.returncode == 2 and "VOXCELEB_ROOT is not set" in proc.stderr, proc.stderr
    proc = run(*common, root=tmp_path / "nowhere")
    assert proc.returncode == 2, proc.stderr
    assert f"VOXCELEB_ROOT={tmp_path / 'nowhere'}: no such folder" in proc.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "exp/.done").exists()


def test_stage_1_prepares_data_dirs_trials_and_a_validation_set(voxceleb_root, tmp_path):
    data, exp = tmp_path / "data", tmp_path / "exp"
    args = ("--stage", "1", "--stop-stage", "1", "--data-dir", data, "--exp-dir", exp)
    proc = run(*args, root=voxceleb_root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "=== stage 1: prepare data dirs" in proc.stdout and "=== stage 2" not in proc.stdout
    assert (exp / ".done/stage1").is_file()

    dev, test = DataDir.load(data / "voxceleb1_dev"), DataDir.load(data / "voxceleb1_test")
    assert dev.utt_ids == utts("dev") and test.utt_ids == utts("test")
    assert test.utt2spk["id10271-1gtz-CUIygI-00002"] == "id10271"
    assert test.wav_scp["id10270-8jEAjG6SegY-00008"] == str(
        (voxceleb_root / "voxceleb1/test/wav/id10270/8jEAjG6SegY/00008.wav").resolve())
    assert 0.2 < test.utt2dur["id10270-x6uYqmx31kE-00001"] < 2.0  # a spoken digit
    trials = read_trials(data / "voxceleb1_test/trials", known_utts=test.utt_ids)
    assert [(t.enroll, t.test, t.target) for t in trials] == [
        ("id10270-x6uYqmx31kE-00001", "id10270-8jEAjG6SegY-00008", True),
        ("id10270-x6uYqmx31kE-00001", "id10271-1gtz-CUIygI-00001", False),
        ("id10271-1gtz-CUIygI-00002", "id10271-1gtz-CUIygI-00001", True),
        ("id10271-1gtz-CUIygI-00002", "id10270-x6uYqmx31kE-00002", False)]

    # train + valid split voxceleb1_dev: the last utterance of each speaker is held out
    train, valid = DataDir.load(data / "train"), DataDir.load(data / "valid")
    assert valid.utt_ids == ["id10001-7gWzIy6yIIk-00003", "id10002-Y8hIVOBuels-00005"]
    assert sorted(train.utt_ids + valid.utt_ids) == dev.utt_ids
    for d in (train, valid):
        assert d.utt2spk == {u: dev.utt2spk[u] for u in d.utt_ids}
        assert d.utt2dur == {u: dev.utt2dur[u] for u in d.utt_ids}
        assert d.wav_scp == {u: dev.wav_scp[u] for u in d.utt_ids}
    assert set(valid.utt2spk.values()) <= set(train.utt2spk.values())  # training speakers only

    before = {p.relative_to(data): p.read_text() for p in data.rglob("*") if p.is_file()}
    proc = run(*args, root=voxceleb_root)  # idempotent: the same files again
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {p.relative_to(data): p.read_text() for p in data.rglob("*") if p.is_file()} == before
