"""Kaldi-style data dirs: parsing, cross-checks and clear errors naming file, line and utterance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
from conftest import write_wav

from audiokit.data.audio import AudioError, load_audio
from audiokit.data.datadir import DataDir, DataDirError, read_kaldi_map
from audiokit.data.validate import find_problems


def make_dir(tmp_path, files: dict[str, str]):
    d = tmp_path / "data"
    d.mkdir(exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)
    return d


def test_roundtrip_and_spk2utt(tmp_path):
    a, b = write_wav(tmp_path / "a.wav"), write_wav(tmp_path / "b.wav", seconds=1.0)
    d = DataDir(tmp_path / "out", wav_scp={"u2": str(b), "u1": str(a)},
                text={"u1": "one two", "u2": ""}, utt2spk={"u1": "s1", "u2": "s1"},
                utt2dur={"u1": 0.5, "u2": 1.0}, utt2label={"u1": ["yes"], "u2": ["no"]})
    d.write()
    back = DataDir.load(tmp_path / "out")
    assert back.utt_ids == ["u1", "u2"]  # written sorted
    assert back.text == {"u1": "one two", "u2": ""}
    assert back.utt2dur == {"u1": 0.5, "u2": 1.0}
    assert back.utt2label == {"u1": ["yes"], "u2": ["no"]}
    assert (tmp_path / "out" / "spk2utt").read_text() == "s1 u1 u2\n"


def test_duplicate_id_names_both_lines(tmp_path):
    d = make_dir(tmp_path, {"wav.scp": "u1 /a.wav\nu2 /b.wav\nu1 /c.wav\n"})
    with pytest.raises(DataDirError, match=r"wav.scp:3: duplicate id 'u1' \(first seen on line 1\)"):
        DataDir.load(d)


def test_line_without_value_is_named(tmp_path):
    d = make_dir(tmp_path, {"wav.scp": "u1 /a.wav\nu2\n"})
    with pytest.raises(DataDirError, match=r"wav.scp:2: utterance 'u2' has no value"):
        DataDir.load(d)


def test_non_utf8_names_line(tmp_path):
    d = make_dir(tmp_path, {"wav.scp": "u1 /a.wav\n"})
    (d / "text").write_bytes(b"u1 hello\n\xff\xfe bad\n")
    with pytest.raises(DataDirError, match=r"text:2: not valid UTF-8"):
        DataDir.load(d)


def test_cross_file_consistency(tmp_path):
    d = make_dir(tmp_path, {"wav.scp": "u1 /a.wav\nu2 /b.wav\n", "utt2spk": "u1 s1\n"})
    with pytest.raises(DataDirError, match=r"utt2spk: 1 utterance\(s\) missing, e.g. 'u2'"):
        DataDir.load(d)
    (d / "utt2spk").write_text("u1 s1\nu2 s1\nu3 s2\n")
    with pytest.raises(DataDirError, match=r"utt2spk: 1 id\(s\) not in wav.scp/segments, e.g. 'u3'"):
        DataDir.load(d)


def test_segments(tmp_path):
    wav = write_wav(tmp_path / "rec.wav", seconds=2.0)
    d = make_dir(tmp_path, {"wav.scp": f"rec {wav}\n",
                            "segments": "s1 rec 0.0 0.5\ns2 rec 1.0 1.75\n"})
    data = DataDir.load(d)
    assert data.utt_ids == ["s1", "s2"]
    source, start, end = data.audio_source("s2")
    audio = load_audio(source, 8000, utt="s2", start=start, end=end)
    assert audio.shape[0] == 6000
    full, _ = sf.read(wav, dtype="float32")
    np.testing.assert_allclose(audio.numpy(), full[8000:14000])
    (d / "segments").write_text("s1 nope 0 1\n")
    with pytest.raises(DataDirError, match="names recording 'nope' missing"):
        DataDir.load(d)
    (d / "segments").write_text("s1 rec 1.0 0.5\n")
    with pytest.raises(DataDirError, match="bad times"):
        DataDir.load(d)


def test_bad_number_in_utt2dur(tmp_path):
    d = make_dir(tmp_path, {"wav.scp": "u1 /a.wav\n", "utt2dur": "u1 long\n"})
    with pytest.raises(DataDirError, match="utt2dur: utterance 'u1': not a number"):
        DataDir.load(d)


def test_read_kaldi_map_keeps_spaces_in_value(tmp_path):
    p = tmp_path / "text"
    p.write_text("u1  hello   world \n\nu2 x\n")
    assert read_kaldi_map(p) == {"u1": "hello   world", "u2": "x"}


def test_audio_errors_name_utterance_and_file(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 1), dtype="float32"), 8000)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not audio at all")
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([[0.1], [math.nan], [0.2]] * 100, dtype="float32"), 8000,
             subtype="FLOAT")
    stereo = write_wav(tmp_path / "stereo.wav", channels=2)
    cases = {"e": (empty, "empty audio"), "g": (garbage, "cannot read audio"),
             "n": (nan, "audio contains NaN or Inf"), "s": (stereo, "2 channels, expected mono"),
             "m": (tmp_path / "missing.wav", "no such file")}
    for utt, (path, reason) in cases.items():
        with pytest.raises(AudioError, match=rf"utterance '{utt}' \({path}\): {reason}"):
            load_audio(str(path), 8000, utt=utt)
    assert load_audio(str(stereo), 8000, downmix=True).dim() == 1


def test_resampling_preserves_duration(tmp_path):
    wav = write_wav(tmp_path / "a.wav", seconds=1.0, sample_rate=8000)
    assert load_audio(str(wav), 16000).shape[0] == 16000


def test_find_problems_lists_every_bad_utterance(tmp_path):
    good = write_wav(tmp_path / "good.wav")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 1), dtype="float32"), 8000)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF....")
    d = make_dir(tmp_path, {"wav.scp": f"a {good}\nb {empty}\nc {garbage}\nd {tmp_path}/gone.wav\n"})
    problems = find_problems(DataDir.load(d))
    assert [(p.utt, p.source) for p in problems] == [
        ("b", str(empty)), ("c", str(garbage)), ("d", f"{tmp_path}/gone.wav")]
    assert "empty" in problems[0].reason


def test_screen_bad_audio_errors_or_skips_with_report(tmp_path):
    from audiokit.data.validate import screen_bad_audio

    good = write_wav(tmp_path / "good.wav")
    d = make_dir(tmp_path, {"wav.scp": f"a {good}\nb {tmp_path}/gone.wav\n"})
    with pytest.raises(DataDirError, match=r"1 utterance\(s\) with bad audio \(set x=skip"):
        screen_bad_audio(d, "error", skip_hint="x=skip")
    report = tmp_path / "reports" / "bad.txt"
    skipped = screen_bad_audio(d, "skip", report=report)
    assert list(skipped) == ["b"]
    assert report.read_text().startswith(f"b\t{tmp_path}/gone.wav\t")
    with pytest.raises(ValueError, match="on_bad_audio"):
        screen_bad_audio(d, "ignore")
