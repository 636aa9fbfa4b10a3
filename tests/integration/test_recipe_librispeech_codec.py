"""recipes/librispeech/codec: the prepare stage reads the real LibriSpeech layout (a generated
tree), and the 16 kHz 6 kbps experiment composes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO, write_librispeech_tree

BIN = Path(sys.executable).parent


def run(cmd: list) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    return subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True,
                          timeout=600)


def test_librispeech_codec_prepare_stage_reads_the_real_layout(tmp_path):
    utts = sorted(write_librispeech_tree(
        tmp_path / "corpus" / "LibriSpeech",
        ("train-clean-100", "dev-clean", "test-clean", "test-other")))
    proc = run([REPO / "recipes/librispeech/codec/run.sh", "--root", tmp_path / "corpus",
                "--data-dir", tmp_path / "data", "--exp-dir", tmp_path / "exp",
                "--stop-stage", "1"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wav_scp = (tmp_path / "data/train_clean_100/wav.scp").read_text().splitlines()
    assert [line.split()[0] for line in wav_scp] == utts
    for name in ("dev_clean", "test_clean", "test_other"):
        assert (tmp_path / "data" / name / "wav.scp").is_file()

    proc = run([BIN / "audiokit-train", "experiment=codec/librispeech_seanet", "--cfg", "job"])
    assert proc.returncode == 0, proc.stderr
    assert "sample_rate: 16000" in proc.stdout and "- 6.0" in proc.stdout
