"""audiokit-infer on a TTS exp dir and a data dir with only a text file."""

import json

import pytest
import soundfile as sf
from test_tts_synthesis import RATE, write_exp_dir


@pytest.fixture(scope="module")
def exp_dir(tmp_path_factory):
    return write_exp_dir(tmp_path_factory.mktemp("tts_cli") / "exp")


def test_audiokit_infer_on_a_text_only_data_dir(exp_dir, tmp_path):
    from audiokit.cli.infer import main

    data = tmp_path / "data"
    data.mkdir()
    (data / "text").write_text("a three one four\nb $5 at 4:30\nc 中文\n")
    with pytest.raises(SystemExit):
        main([f"exp_dir={exp_dir}", f"data_dir={data}", f"output_dir={tmp_path / 'out'}"])
    main([f"exp_dir={exp_dir}", f"data_dir={data}", f"output_dir={tmp_path / 'out'}",
          "tts.on_bad_text=skip"])
    out = tmp_path / "out"
    scp = dict(line.split(" ", 1) for line in (out / "wav.scp").read_text().splitlines())
    assert sorted(scp) == ["a", "b"]
    audio, rate = sf.read(scp["b"].strip())
    assert rate == RATE and len(audio) > 0
    assert "c" in (out / "skipped").read_text()
    failures = dict(line.split(" ", 1) for line in (out / "attention_failures").read_text().splitlines())
    assert failures["a"].startswith("1 ") and "no_stop" in failures["a"]
    assert json.loads((out / "rtf.json").read_text())["num_utts"] == 2
