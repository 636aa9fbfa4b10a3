"""scripts/codec_stages.sh: the codec recipes' score stage hands --asr-exp-dir to
audiokit-score (the WER of the original and the decoded audio), and nothing without it.
The audiokit commands are stand-ins that record their arguments."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import REPO

RECIPE = REPO / "recipes" / "fsdd" / "codec" / "run.sh"


@pytest.mark.parametrize("asr", [True, False])
def test_score_stage_passes_the_asr_exp_dir(tmp_path: Path, asr: bool):
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    for tool in ("audiokit-train", "audiokit-score"):  # on PATH: stages.sh adds no venv
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "$(basename "$0") $@" >> {calls}\n')
        (bin_dir / tool).chmod(0o755)
    test = tmp_path / "test"
    test.mkdir()
    (test / "wav.scp").write_text("")
    decoded = tmp_path / "exp/infer/test/6kbps"
    decoded.mkdir(parents=True)
    (decoded / "wav.scp").write_text("")
    args = ["--stage", "4", "--stop-stage", "4", "--exp-dir", str(tmp_path / "exp"),
            "--train-set", str(test), "--valid-set", str(test), "--test-sets", str(test),
            "--bandwidths", "6"] + (["--asr-exp-dir", "ASR_EXP"] if asr else [])
    result = subprocess.run(["bash", str(RECIPE), *args], capture_output=True, text=True,
                            timeout=60, env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    call = calls.read_text().strip()
    assert call.startswith(f"audiokit-score task=codec ref={test} hyp={decoded} ")
    assert call.endswith(" asr_exp_dir=ASR_EXP") == asr, call
    assert ("asr_exp_dir" in call) == asr, call
