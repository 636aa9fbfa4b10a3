"""Classical codec anchors: delay alignment, settings, and a real round trip when installed."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

from audiokit.inference import codec_anchors as anchors

HAVE_TOOLS = all(shutil.which(t) for t in ("c2enc", "c2dec", "opusenc", "opusdec"))


@pytest.mark.parametrize("lag", [0, 7, -5, 40])
def test_align_undoes_a_known_delay(lag):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(800).astype(np.float32)
    delayed = np.concatenate([np.zeros(lag, np.float32), x])[:800] if lag >= 0 else x[-lag:]
    y = anchors.align(x, delayed, max_lag=50)
    assert len(y) == 800
    keep = slice(50, 700)
    np.testing.assert_allclose(y[keep], x[keep])


def test_settings_and_bitrates():
    assert anchors.bitrate_bps("codec2-700C") == 700
    assert anchors.bitrate_bps("opus-6") == 6000
    with pytest.raises(ValueError, match="choose from codec2-3200"):
        anchors.bitrate_bps("mp3-128")


def test_check_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert anchors.main(["--check"]) == anchors.MISSING_TOOLS_EXIT
    assert "apt-get install codec2 opus-tools" in capsys.readouterr().out
    assert anchors.main(["--data-dir", "x", "--out", "y", "--setting", "opus-6"]) == 1


@pytest.mark.skipif(not HAVE_TOOLS, reason="codec2 / opus-tools not installed")
@pytest.mark.parametrize("setting", ["codec2-3200", "opus-12"])
def test_round_trip_with_the_tools(tiny_fsdd, tmp_path, setting):
    from audiokit.data.datadir import DataDir, read_kaldi_map

    src = tmp_path / "src"
    src.mkdir()
    data = DataDir.load(tiny_fsdd / "test")
    utts = data.utt_ids[:2]
    (src / "wav.scp").write_text("".join(f"{u} {data.wav_scp[u]}\n" for u in utts))
    out = anchors.process_data_dir(src, tmp_path / "out", setting)
    for utt, path in read_kaldi_map(out / "wav.scp").items():
        x, sr = sf.read(data.wav_scp[utt], dtype="float32")
        y, sr2 = sf.read(path, dtype="float32")
        assert sr2 == sr and len(y) == len(x)
        # a speech codec keeps the waveform's shape at these rates: clearly correlated
        assert np.corrcoef(x, y)[0, 1] > 0.5
