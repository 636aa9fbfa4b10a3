"""Bad audio and own data (issue 25 item 9, issue 26 part 4): each case is a named error or a
listed skip, never a traceback and never a silent loss."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import write_wav

from audiokit.cli import prep
from audiokit.data.datadir import DataDir
from audiokit.data.dataset import AudioDataset
from audiokit.data.validate import find_problems, screen_bad_audio


def run_prep(*args: str) -> str:
    with pytest.raises(SystemExit) as e:
        prep.main(list(args))
    assert isinstance(e.value.code, str) and "Traceback" not in e.value.code, e.value.code
    assert e.value.code.startswith(f"audiokit-prep {args[0]}: error: "), e.value.code
    return e.value.code


def folder_of_wavs(root: Path, names: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        write_wav(root / name, seconds=0.2, seed=k)
    return root


def test_folder_makes_safe_ids_from_names_with_spaces(tmp_path, capsys):
    audio = folder_of_wavs(tmp_path / "audio", ["my file.wav", "b (2).wav", "plain.wav"])
    prep.main(["folder", "--audio-dir", str(audio), "--out", str(tmp_path / "data")])
    d = DataDir.load(tmp_path / "data")
    assert sorted(d.utt_ids) == ["b__2_", "my_file", "plain"]
    assert d.wav_scp["my_file"].endswith("my file.wav")
    assert "2 id(s) made safe" in capsys.readouterr().out


def test_folder_ids_that_collide_are_named(tmp_path):
    audio = folder_of_wavs(tmp_path / "audio", ["a b.wav", "a_b.wav"])
    m = run_prep("folder", "--audio-dir", str(audio), "--out", str(tmp_path / "data"))
    assert "a b.wav" in m and "a_b.wav" in m and "'a_b'" in m


def test_folder_zero_byte_wav_is_listed_as_skipped(tmp_path, capsys):
    audio = folder_of_wavs(tmp_path / "audio", ["good.wav"])
    (audio / "empty.wav").write_bytes(b"")
    prep.main(["folder", "--audio-dir", str(audio), "--out", str(tmp_path / "data")])
    assert DataDir.load(tmp_path / "data").utt_ids == ["good"]
    skipped = (tmp_path / "data" / "skipped").read_text()
    assert skipped.startswith("empty ") and "empty.wav" in skipped and "0 bytes" in skipped
    assert "skipped 1 unreadable or empty file" in capsys.readouterr().out


def test_folder_missing_folder(tmp_path):
    assert "no such folder" in run_prep("folder", "--audio-dir", str(tmp_path / "x"),
                                        "--out", str(tmp_path / "d"))


def test_prep_bad_data_dir_is_one_line(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "wav.scp").write_text("u0 a.wav\nu0 b.wav\n")
    assert "duplicate id 'u0'" in run_prep("trials", str(d))


def data_dir(root: Path, files: dict[str, Path]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "wav.scp").write_text("".join(f"{u} {p}\n" for u, p in files.items()))
    return root


def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """utt -> (file, what the validation must say)."""
    stereo = write_wav(tmp_path / "stereo44k.wav", sample_rate=44100, channels=2)
    zero = tmp_path / "zero.wav"
    zero.write_bytes(b"")
    truncated = tmp_path / "truncated.wav"
    full = write_wav(tmp_path / "full.wav", seconds=1.0).read_bytes()
    truncated.write_bytes(full[:20])  # header cut: not even a whole RIFF header
    halved = tmp_path / "halved.wav"  # header intact, data cut: a copy that stopped early
    halved.write_bytes(full[: len(full) // 2])
    text = tmp_path / "text.wav"
    text.write_text("this is not audio\n")
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.1, np.nan, 0.2] * 300, dtype="float32"), 8000, subtype="FLOAT")
    empty = tmp_path / "no_samples.wav"
    sf.write(empty, np.zeros((0, 1), dtype="float32"), 8000)
    return {"stereo": (stereo, "2 channels, expected mono"), "zero": (zero, "empty file (0 bytes)"),
            "trunc": (truncated, "cannot read audio header"),
            "halved": (halved, "truncated: the header declares 16000 bytes"),
            "text": (text, "cannot read audio header"),
            "missing": (tmp_path / "gone.wav", "no such file"),
            "nan": (nan, "NaN"), "nosamples": (empty, "empty audio (0 samples)"),
            "dir": (tmp_path, "a directory, not an audio file")}


def test_validate_names_each_bad_file_against_the_experiment(tmp_path, capsys):
    cases = bad_files(tmp_path)
    good = write_wav(tmp_path / "good.wav")
    rate16k = write_wav(tmp_path / "r16k.wav", sample_rate=16000)
    pcm8 = tmp_path / "pcm8.wav"  # another bit depth: read fine (soundfile converts)
    sf.write(pcm8, np.zeros(800, dtype="float32") + 0.1, 8000, subtype="PCM_U8")
    files = {u: p for u, (p, _) in cases.items()} | {"good": good, "r16k": rate16k, "pcm8": pcm8}
    d = data_dir(tmp_path / "d", files)
    with pytest.raises(SystemExit) as e:
        prep.main(["validate", str(d), "--experiment", "cls/fsdd_cnn", "--sample-rate", "8000"])
    assert e.value.code == 1
    out = capsys.readouterr().out
    assert "8000 Hz, mono" in out
    report = {line.split("\t")[0]: line for line in (d / "bad_audio.txt").read_text().splitlines()}
    assert set(report) == set(cases) | {"r16k"}, report.keys()
    for utt, (path, reason) in cases.items():
        assert reason in report[utt] and str(path) in report[utt], report[utt]
    assert "sample rate 16000 Hz, the experiment expects 8000 Hz" in report["r16k"]


def test_stereo_44k_in_an_8k_mono_recipe_is_named_by_header_check(tmp_path):
    stereo = write_wav(tmp_path / "s.wav", sample_rate=44100, channels=2)
    d = DataDir.load(data_dir(tmp_path / "d", {"s": stereo}))
    (problem,) = find_problems(d, expect_rate=8000)
    assert problem.utt == "s" and problem.reason.startswith(
        "sample rate 44100 Hz, the experiment expects 8000 Hz; 2 channels, expected mono")
    (problem,) = find_problems(d, expect_rate=8000, downmix=True)
    assert "44100 Hz, the experiment expects 8000 Hz" in problem.reason


def test_skip_really_skips_a_zero_byte_file(tmp_path):
    zero = tmp_path / "zero.wav"
    zero.write_bytes(b"")
    good = write_wav(tmp_path / "good.wav")
    d = data_dir(tmp_path / "d", {"good": good, "zero": zero})  # no utt2dur: headers are read
    skipped = screen_bad_audio(d, "skip")
    assert list(skipped) == ["zero"] and "0 bytes" in skipped["zero"]
    ds = AudioDataset(d, 8000, exclude=skipped)
    assert ds.utt_ids == ["good"] and ds.excluded == skipped


def test_empty_data_dir_is_named(tmp_path):
    d = data_dir(tmp_path / "d", {})
    from audiokit.data.datadir import DataDirError

    with pytest.raises(DataDirError, match="no utterances left"):
        AudioDataset(d, 8000)


def test_segments_outside_the_recording_list_are_named(tmp_path):
    good = write_wav(tmp_path / "good.wav")
    d = data_dir(tmp_path / "d", {"r": good})
    (d / "segments").write_text("s1 r 0.0 0.2\ns2 other 0.0 0.2\n")
    assert "'other' missing from" in run_prep("trials", str(d))
    (d / "segments").write_text("s1 r 0.3 0.2\n")
    assert "bad times 0.3..0.2" in run_prep("trials", str(d))


def corrupt_shard(tmp_path: Path) -> Path:
    """A shards.json with one good and one corrupt tar (bytes cut half way)."""
    from audiokit.data.shards import write_shards

    files = {f"u{k}": write_wav(tmp_path / f"u{k}.wav", seed=k) for k in range(4)}
    d = data_dir(tmp_path / "d", files)
    (d / "utt2label").write_text("".join(f"u{k} a\n" for k in range(4)))
    write_shards(d, tmp_path / "shards", max_per_shard=2, audio_format="wav")
    second = sorted((tmp_path / "shards").glob("*.tar"))[1]
    second.write_bytes(second.read_bytes()[:700])
    return tmp_path / "shards"


def test_corrupt_shard_is_named_and_skipped_with_a_count(tmp_path, capsys):
    from audiokit.data.shards import check_shards, read_index

    out = corrupt_shard(tmp_path)
    from audiokit.data.datadir import DataDirError

    with pytest.raises(DataDirError, match=r"1 corrupt shard\(s\): .*shard-000001.tar: truncated"
                                           r".*validate-shards .* --on-bad-shard skip"):
        read_index(out)  # what the shard data module reads before streaming
    bad = check_shards(out)
    assert list(bad) == [str(sorted(out.glob("*.tar"))[1])]
    with pytest.raises(SystemExit) as e:
        prep.main(["validate-shards", str(out)])
    assert "shard-000001.tar" in str(e.value.code)
    prep.main(["validate-shards", str(out), "--on-bad-shard", "skip"])
    assert "skipped 1 corrupt shard(s); 1 shard(s), 2 utterances left" in capsys.readouterr().out
    index = read_index(out)
    assert index["num_samples"] == 2 and list(index["skipped_shards"]) == ["shard-000001.tar"]
    assert check_shards(out) == {}


def test_shard_cut_at_a_member_boundary_is_named(tmp_path):
    from audiokit.data.shards import check_shard

    tar = tmp_path / "s.tar"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name in ("a.wav", "a.json", "b.wav", "b.json"):
            info = tarfile.TarInfo(name)
            info.size = 600
            t.addfile(info, io.BytesIO(b"x" * 600))
    tar.write_bytes(buf.getvalue()[:2 * 1536])  # two whole members: sample b is gone
    assert check_shard(tar, 2) == "holds 1 samples, its shards.json lists 2"
    tar.write_bytes(buf.getvalue()[:1000])
    assert "truncated" in check_shard(tar, 2) or "not a readable tar" in check_shard(tar, 2)


def test_data_module_names_stereo_and_other_rates(tmp_path, caplog):
    from audiokit.data.datadir import DataDirError
    from audiokit.data.datamodule import AudioDataModule

    files = {"a": write_wav(tmp_path / "a.wav"), "b": write_wav(tmp_path / "b.wav"),
             "r": write_wav(tmp_path / "r.wav", sample_rate=44100),
             "s": write_wav(tmp_path / "s.wav", sample_rate=44100, channels=2)}
    d = data_dir(tmp_path / "d", files)
    (d / "utt2label").write_text("a x\nb y\nr x\ns y\n")
    dm = AudioDataModule(str(d), str(d), 8000, num_workers=0)
    with pytest.raises(DataDirError, match=r"utterance.*\n.*s\t.*s.wav\t2 channels, expected mono"):
        dm.setup("fit")
    assert "1 file(s) are not at the experiment's 8000 Hz" in caplog.text
    assert "r (44100 Hz)" in caplog.text
    dm = AudioDataModule(str(d), str(d), 8000, num_workers=0, on_bad_audio="skip")
    dm.setup("fit")
    assert dm.train_set.utt_ids == ["a", "b", "r"] and list(dm.train_set.excluded) == ["s"]


def test_prep_stats_checks_its_overrides(tmp_path):
    m = run_prep("stats", "--out", str(tmp_path / "s.json"), "--", "experiment=cls/nope")
    assert "unknown experiment 'cls/nope'; did you mean 'cls/fsdd_cnn'" in m
    m = run_prep("stats", "--out", str(tmp_path / "s.json"), "--", "experiment=cls/fsdd_cnn",
                 "data.max_batch_seconds=lots")
    assert "data.max_batch_seconds takes a number" in m


def test_segment_past_the_end_of_its_recording_is_named(tmp_path):
    rec = write_wav(tmp_path / "rec.wav", seconds=1.0)
    d = data_dir(tmp_path / "d", {"r": rec})
    (d / "segments").write_text("s1 r 0.0 0.5\ns2 r 0.5 1.02\ns3 r 0.8 3.0\n")
    (problem,) = find_problems(DataDir.load(d))
    assert problem.utt == "s3"
    assert problem.reason == "segment 0.80-3.00 s ends after the recording (1.00 s)"
