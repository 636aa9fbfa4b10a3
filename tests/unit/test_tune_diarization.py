"""The diarization tuner picks, on a development set, the grid setting with the lowest DER: for
EEND the activity threshold and median filter (the pipeline's clustering grid runs in
tests/integration/test_recipe_fsdd_diar.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from audiokit.data.rttm import Turn, write_rttm
from audiokit.inference.diarization import EEND_DEFAULTS, EENDDiarizer
from audiokit.inference.tune_diarization import EEND_GRID, main, tune

SHIFT = 0.1  # output frame shift, seconds


class FixedEEND(EENDDiarizer):
    """An EEND diarizer whose model always gives the same probabilities."""

    def __init__(self, probs: np.ndarray) -> None:
        self.task, self.sample_rate = SimpleNamespace(output_frame_shift=SHIFT), 8000
        self.options, self.probs = dict(EEND_DEFAULTS), probs

    def speaker_probs(self, audio, num_speakers=None) -> np.ndarray:
        return self.probs


@pytest.fixture
def dev_set(tmp_path):
    """One 6 s recording; speaker A talks from 1 to 3 s, B from 4 to 5 s."""
    sf.write(tmp_path / "r1.wav", np.zeros(6 * 8000, dtype=np.float32), 8000)
    (tmp_path / "wav.scp").write_text(f"r1 {tmp_path / 'r1.wav'}\n")
    write_rttm(tmp_path / "rttm", {"r1": [Turn(1.0, 3.0, "A"), Turn(4.0, 5.0, "B")]})
    return tmp_path


def test_eend_tuning_finds_the_threshold_of_a_model_whose_probabilities_sit_low(dev_set):
    # both speakers active at 0.42 where they talk, 0.2 elsewhere: the trained threshold
    # (0.5) misses all speech, 0.4 and below finds it exactly, 0.2 and below is all speech
    probs = np.full((60, 2), 0.2, dtype=np.float32)
    probs[10:30, 0] = probs[40:50, 1] = 0.42
    rows = tune(FixedEEND(probs), str(dev_set), collar=0.0)
    assert len(rows) == len(EEND_GRID) and [r["der"] for r in rows] == sorted(r["der"] for r in rows)
    by_setting = {(r["threshold"], r["median_frames"]): r["der"] for r in rows}
    assert by_setting[(0.5, 11)] == pytest.approx(100.0)      # every reference second missed
    assert by_setting[(0.4, 1)] == pytest.approx(0.0, abs=1e-6)
    assert rows[0]["der"] == pytest.approx(0.0, abs=1e-6) and rows[0]["threshold"] <= 0.4


def test_an_exp_dir_that_is_not_a_diarizer_is_one_line(tmp_path):
    with pytest.raises(SystemExit) as e:
        main([f"exp_dir={tmp_path / 'none'}", f"data_dir={tmp_path}"])
    assert str(e.value.code).startswith("tune_diarization: error: ")
    assert "no exported model" in str(e.value.code) and "\n" not in str(e.value.code)
