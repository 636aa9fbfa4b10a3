"""recipes/librispeech/codec: the prepare stage reads the real LibriSpeech layout (a generated
tree), and the 16 kHz 6 kbps experiment composes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from conftest import REPO

BIN = Path(sys.executable).parent


def run(cmd: list) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    return subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True,
                          timeout=600)


def test_librispeech_codec_prepare_stage_reads_the_real_layout(tmp_path):
    root = tmp_path / "corpus" / "LibriSpeech"
    utts = []
    for subset in ("train-clean-100", "dev-clean", "test-clean", "test-other"):
        for spk, chapter in (("19", "198"), ("26", "495")):
            folder = root / subset / spk / chapter
            folder.mkdir(parents=True)
            lines = []
            for i in range(2):
                utt = f"{spk}-{chapter}-{i:04d}"
                sf.write(folder / f"{utt}.flac", 0.1 * np.random.randn(4000), 16000)
                lines.append(f"{utt} HELLO WORLD {i}")
                if subset == "train-clean-100":
                    utts.append(utt)
            (folder / f"{spk}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    proc = run([REPO / "recipes/librispeech/codec/run.sh", "--root", tmp_path / "corpus",
                "--data-dir", tmp_path / "data", "--exp-dir", tmp_path / "exp",
                "--stop-stage", "1"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wav_scp = (tmp_path / "data/train_clean_100/wav.scp").read_text().splitlines()
    assert [line.split()[0] for line in wav_scp] == sorted(utts)
    for name in ("dev_clean", "test_clean", "test_other"):
        assert (tmp_path / "data" / name / "wav.scp").is_file()

    proc = run([BIN / "audiokit-train", "experiment=codec/librispeech_seanet", "--cfg", "job"])
    assert proc.returncode == 0, proc.stderr
    assert "sample_rate: 16000" in proc.stdout and "- 6.0" in proc.stdout
