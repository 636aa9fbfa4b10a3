"""VoxCeleb data prep on tiny generated trees in the real layouts: data dirs, trials, errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiokit.cli import prep
from audiokit.data.audio import AudioError
from audiokit.data.corpora import voxceleb
from audiokit.data.datadir import DataDir, DataDirError
from audiokit.inference.trials import read_trials

SR = 16000
# part -> speaker -> YouTube id -> [(segment number, samples)]; ids may hold '-' or start with it
CORPUS = {
    "dev": {"id10001": {"1zcIwhmdeo4": [(1, 1600), (2, 3200)], "7gWzIy6yIIk": [(1, 800)]},
            "id10002": {"-3Wn5kbqZQ8": [(1, 2400)]}},
    "test": {"id10270": {"x6uYqmx31kE": [(1, 4000), (2, 1600)], "8jEAjG6SegY": [(8, 2400)]},
             "id10271": {"1gtz-CUIygI": [(1, 3200)]}},
}
VERI_TEST2 = """\
1 id10270/x6uYqmx31kE/00001.wav id10270/8jEAjG6SegY/00008.wav
0 id10270/x6uYqmx31kE/00001.wav id10271/1gtz-CUIygI/00001.wav
1 id10270/x6uYqmx31kE/00002.wav id10270/x6uYqmx31kE/00001.wav
0 id10271/1gtz-CUIygI/00001.wav id10270/8jEAjG6SegY/00008.wav
"""
O_TRIALS = """\
id10270-x6uYqmx31kE-00001 id10270-8jEAjG6SegY-00008 target
id10270-x6uYqmx31kE-00001 id10271-1gtz-CUIygI-00001 nontarget
id10270-x6uYqmx31kE-00002 id10270-x6uYqmx31kE-00001 target
id10271-1gtz-CUIygI-00001 id10270-8jEAjG6SegY-00008 nontarget
"""
# where each layout puts a part's wav folder (flat: both parts in one folder)
LAYOUTS = {
    "voxceleb1": "voxceleb1/{part}/wav",  # WeSpeaker's unzip targets
    "zips": "vox1_{part}_wav/wav",  # each zip unpacked into a folder of its own name
    "vox1_root": "{part}/wav",  # root is the VoxCeleb1 folder (Kaldi)
    "flat": "wav",  # both zips unpacked into one folder (SpeechBrain)
}


def write_tree(wav_dir: Path, speakers: dict, ext: str = "wav") -> None:
    rng = np.random.default_rng(0)
    for spk, videos in speakers.items():
        for video, segments in videos.items():
            (wav_dir / spk / video).mkdir(parents=True, exist_ok=True)
            for n, samples in segments:
                noise = (0.1 * rng.standard_normal(samples)).astype("float32")
                sf.write(wav_dir / spk / video / f"{n:05d}.{ext}", noise, SR)


def make_corpus(root: Path, layout: str = "voxceleb1", trial_dir: str = ".") -> Path:
    for part, speakers in CORPUS.items():
        write_tree(root / LAYOUTS[layout].format(part=part), speakers)
    (root / trial_dir).mkdir(parents=True, exist_ok=True)
    (root / trial_dir / "veri_test2.txt").write_text(VERI_TEST2)
    return root


def rows(part: str) -> list[tuple[str, str, str, float]]:
    """(utt, path under the wav folder, speaker, seconds), sorted by utt."""
    return sorted((f"{spk}-{video}-{n:05d}", f"{spk}/{video}/{n:05d}.wav", spk, samples / SR)
                  for spk, videos in CORPUS[part].items()
                  for video, segments in videos.items() for n, samples in segments)


def expected_files(wav_dir: Path, part: str) -> dict[str, str]:
    spk2utt: dict[str, list[str]] = {}
    for utt, _, spk, _ in rows(part):
        spk2utt.setdefault(spk, []).append(utt)
    return {
        "wav.scp": "".join(f"{u} {wav_dir.resolve() / p}\n" for u, p, _, _ in rows(part)),
        "utt2spk": "".join(f"{u} {s}\n" for u, _, s, _ in rows(part)),
        "spk2utt": "".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk2utt.items())),
        "utt2dur": "".join(f"{u} {d:.4f}\n" for u, _, _, d in rows(part)),
    }


def check_dir(out: Path, expected: dict[str, str]) -> None:
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    for name, text in expected.items():
        assert (out / name).read_text() == text, name


@pytest.fixture
def corpus(tmp_path) -> Path:
    return make_corpus(tmp_path / "corpus")


def test_writes_every_file_exactly(corpus, tmp_path):
    dirs = voxceleb.prepare(corpus, tmp_path / "data", num_workers=2)
    assert list(dirs) == ["voxceleb1_dev", "voxceleb1_test"]
    check_dir(tmp_path / "data/voxceleb1_dev",
              expected_files(corpus / "voxceleb1/dev/wav", "dev"))
    check_dir(tmp_path / "data/voxceleb1_test",
              {**expected_files(corpus / "voxceleb1/test/wav", "test"), "trials": O_TRIALS})
    test = DataDir.load(tmp_path / "data/voxceleb1_test")  # passes the loader's cross-checks
    assert test.utt_ids[:2] == ["id10270-8jEAjG6SegY-00008", "id10270-x6uYqmx31kE-00001"]
    assert test.utt2spk["id10271-1gtz-CUIygI-00001"] == "id10271"
    assert test.utt2dur["id10270-x6uYqmx31kE-00001"] == pytest.approx(0.25)
    assert DataDir.load(tmp_path / "data/voxceleb1_dev").utt2spk["id10002--3Wn5kbqZQ8-00001"] \
        == "id10002"
    trials = read_trials(tmp_path / "data/voxceleb1_test/trials", known_utts=test.utt_ids)
    assert [t.target for t in trials] == [True, False, True, False]
    assert dirs["voxceleb1_test"].path == tmp_path / "data/voxceleb1_test"


@pytest.mark.parametrize("layout,trial_dir", [("zips", "."), ("vox1_root", "meta"),
                                              ("flat", "voxceleb1"), ("voxceleb1", "voxceleb1")])
def test_other_layouts_give_the_same_data_dirs(tmp_path, layout, trial_dir):
    root = make_corpus(tmp_path / "corpus", layout, trial_dir)
    voxceleb.prepare(root, tmp_path / "data", num_workers=1)
    for part in ("dev", "test"):  # flat: split by speaker (id10270-id10309 are the test ones)
        expected = expected_files(root / LAYOUTS[layout].format(part=part), part)
        if part == "test":
            expected["trials"] = O_TRIALS
        check_dir(tmp_path / f"data/voxceleb1_{part}", expected)


def test_rerun_is_identical_and_drops_a_stale_trials_file(corpus, tmp_path, caplog):
    voxceleb.prepare(corpus, tmp_path / "a")
    before = {p.name: p.read_text() for p in (tmp_path / "a/voxceleb1_test").iterdir()}
    voxceleb.prepare(corpus, tmp_path / "a")
    assert {p.name: p.read_text() for p in (tmp_path / "a/voxceleb1_test").iterdir()} == before
    (corpus / "veri_test2.txt").unlink()
    with caplog.at_level(logging.WARNING):
        voxceleb.prepare(corpus, tmp_path / "a", ["voxceleb1_test"])
    assert not (tmp_path / "a/voxceleb1_test/trials").exists()
    assert "no VoxCeleb1-O list" in caplog.text and "removed the trials file" in caplog.text


def test_cleaned_list_wins(corpus, tmp_path):
    (corpus / "voxceleb1").mkdir(exist_ok=True)
    (corpus / "voxceleb1/veri_test.txt").write_text(
        "1 id10270/x6uYqmx31kE/00001.wav id10270/x6uYqmx31kE/00002.wav\n")
    voxceleb.prepare(corpus, tmp_path / "data", ["voxceleb1_test"])
    assert (tmp_path / "data/voxceleb1_test/trials").read_text() == O_TRIALS
    (corpus / "veri_test2.txt").unlink()  # the original list is the fallback
    voxceleb.prepare(corpus, tmp_path / "data", ["voxceleb1_test"])
    assert (tmp_path / "data/voxceleb1_test/trials").read_text() == \
        "id10270-x6uYqmx31kE-00001 id10270-x6uYqmx31kE-00002 target\n"


def test_hard_list_spans_dev_and_test(corpus, tmp_path, caplog):
    (corpus / "list_test_hard2.txt").write_text(
        "1 id10001/1zcIwhmdeo4/00001.wav id10001/7gWzIy6yIIk/00001.wav\n"
        "0 id10001/1zcIwhmdeo4/00001.wav id10270/x6uYqmx31kE/00001.wav\n")
    dirs = voxceleb.prepare(corpus, tmp_path / "data")
    assert list(dirs) == ["voxceleb1_dev", "voxceleb1_test", "voxceleb1_h"]
    h = DataDir.load(tmp_path / "data/voxceleb1_h")
    # only the utterances the list names, from both parts
    assert h.utt_ids == ["id10001-1zcIwhmdeo4-00001", "id10001-7gWzIy6yIIk-00001",
                         "id10270-x6uYqmx31kE-00001"]
    assert h.wav_scp["id10270-x6uYqmx31kE-00001"] == \
        str((corpus / "voxceleb1/test/wav/id10270/x6uYqmx31kE/00001.wav").resolve())
    assert h.utt2dur["id10001-7gWzIy6yIIk-00001"] == pytest.approx(0.05)
    assert (tmp_path / "data/voxceleb1_h/trials").read_text() == (
        "id10001-1zcIwhmdeo4-00001 id10001-7gWzIy6yIIk-00001 target\n"
        "id10001-1zcIwhmdeo4-00001 id10270-x6uYqmx31kE-00001 nontarget\n")
    assert not (tmp_path / "data/voxceleb1_e").exists()
    with caplog.at_level(logging.WARNING):  # needs both parts: says so rather than skip quietly
        voxceleb.prepare(corpus, tmp_path / "only_test", ["voxceleb1_test"])
    assert "list_test_hard2.txt: skipped" in caplog.text
    assert not (tmp_path / "only_test/voxceleb1_h").exists()


def test_trial_naming_a_missing_utterance(corpus, tmp_path):
    (corpus / "veri_test2.txt").write_text(
        VERI_TEST2 + "1 id10270/x6uYqmx31kE/00001.wav id10270/x6uYqmx31kE/00009.wav\n")
    with pytest.raises(DataDirError, match=r"veri_test2\.txt:5: test utterance "
                                           r"'id10270-x6uYqmx31kE-00009' is not in the data dir"):
        voxceleb.prepare(corpus, tmp_path / "data")
    assert not (tmp_path / "data").exists()  # checked before anything is written


def test_voxceleb2_m4a_only_is_an_error_with_the_ffmpeg_command(tmp_path):
    aac = tmp_path / "corpus/voxceleb2/dev/aac/id00012/21Uxsk56VDQ"
    aac.mkdir(parents=True)
    (aac / "00001.m4a").write_bytes(b"\0\0\0\x20ftypM4A ")
    with pytest.raises(DataDirError, match=r"00001\.m4a: VoxCeleb2 is distributed as AAC \.m4a.*"
                                           r"ffmpeg -v 8 -i .*00001\.m4a .*pcm_s16le "
                                           r".*voxceleb2/dev/wav/id00012/21Uxsk56VDQ/00001\.wav"):
        voxceleb.prepare(tmp_path / "corpus", tmp_path / "data", ["voxceleb2_dev"])
    # half converted in place: the unconverted ones are named and counted
    write_tree(aac.parent.parent, {"id00012": {"21Uxsk56VDQ": [(2, 800)]}})
    (aac / "00003.m4a").write_bytes(b"")
    with pytest.raises(DataDirError, match=r"2 \.m4a file\(s\) have no \.wav/\.flac conversion"):
        voxceleb.prepare(tmp_path / "corpus", tmp_path / "data", ["voxceleb2_dev"])


@pytest.mark.parametrize("folder", ["voxceleb2/dev/wav", "voxceleb2_wav/dev/aac", "dev/wav"])
def test_voxceleb2_wav_conversions(tmp_path, folder):
    aac = tmp_path / "corpus/voxceleb2/dev/aac/id00012/21Uxsk56VDQ"
    aac.mkdir(parents=True)
    (aac / "00001.m4a").write_bytes(b"")  # the original is ignored once a conversion exists
    speakers = {"id00012": {"21Uxsk56VDQ": [(1, 1600)]}, "id09272": {"zYa5vhYB5E4": [(3, 800)]}}
    write_tree(tmp_path / "corpus" / folder, speakers)
    voxceleb.prepare(tmp_path / "corpus", tmp_path / "data", ["voxceleb2_dev"])
    d = DataDir.load(tmp_path / "data/voxceleb2_dev")
    assert d.utt2spk == {"id00012-21Uxsk56VDQ-00001": "id00012",
                         "id09272-zYa5vhYB5E4-00003": "id09272"}
    assert d.utt2dur["id00012-21Uxsk56VDQ-00001"] == pytest.approx(0.1)
    assert not (tmp_path / "data/voxceleb2_dev/trials").exists()


@pytest.mark.parametrize("name,message", [
    ("speaker10", r"speaker folder must be named 'id' \+ 5 digits .*got 'speaker10'"),
    ("id00012", r"'id00012' is not a VoxCeleb1 speaker id"),
])
def test_bad_speaker_folder(corpus, tmp_path, name, message):
    write_tree(corpus / "voxceleb1/dev/wav", {name: {"abc": [(1, 800)]}})
    with pytest.raises(DataDirError, match=rf"voxceleb1/dev/wav/{name}: {message}"):
        voxceleb.prepare(corpus, tmp_path / "data")


def test_voxceleb1_folder_taken_for_voxceleb2(tmp_path):
    root = make_corpus(tmp_path / "corpus", "vox1_root")  # root/dev/wav holds VoxCeleb1
    with pytest.raises(DataDirError, match=r"dev/wav/id10001: 'id10001' is not a VoxCeleb2 "
                                           r"speaker id"):
        voxceleb.prepare(root, tmp_path / "data", ["voxceleb2_dev"])


def test_empty_subset(tmp_path):
    root = tmp_path / "corpus"
    write_tree(root / "wav", CORPUS["dev"])  # flat folder holding only dev speakers
    with pytest.raises(DataDirError, match=r"corpus/wav: no \.wav/\.flac files of its speakers "
                                           r"for subset 'voxceleb1_test'"):
        voxceleb.prepare(root, tmp_path / "data")
    (root / "voxceleb1/test/wav").mkdir(parents=True)
    with pytest.raises(DataDirError, match=r"voxceleb1/test/wav: no \.wav/\.flac files for"):
        voxceleb.prepare(root, tmp_path / "data", ["voxceleb1_test"])


def test_missing_and_unknown_subsets(corpus, tmp_path):
    with pytest.raises(DataDirError, match=r"subset 'voxceleb2_dev' not found; looked for "
                                           r".*voxceleb2/dev/wav"):
        voxceleb.prepare(corpus, tmp_path / "data", ["voxceleb1_dev", "voxceleb2_dev"])
    with pytest.raises(DataDirError, match=r"unknown VoxCeleb subset 'voxceleb3_dev'"):
        voxceleb.prepare(corpus, tmp_path / "data", ["voxceleb3_dev"])
    assert not (tmp_path / "data").exists()


def test_speaker_in_both_parts(corpus, tmp_path):
    write_tree(corpus / "voxceleb1/dev/wav", {"id10270": {"abc": [(1, 800)]}})
    with pytest.raises(DataDirError, match=r"speaker id10270 is in both .*dev/wav and .*test/wav"):
        voxceleb.prepare(corpus, tmp_path / "data")


def test_unreadable_header_names_the_file(corpus, tmp_path):
    bad = corpus / "voxceleb1/test/wav/id10271/1gtz-CUIygI/00002.wav"
    bad.write_bytes(b"RIFF not really a wav file")
    with pytest.raises(AudioError, match=r"'id10271-1gtz-CUIygI-00002' .*00002\.wav\): "
                                         r"cannot read audio header"):
        voxceleb.prepare(corpus, tmp_path / "data", ["voxceleb1_test"])


def test_cli(corpus, tmp_path, capsys):
    prep.main(["voxceleb", "--root", str(corpus), "--out", str(tmp_path / "data"),
               "--subsets", "voxceleb1_test", "--num-workers", "2"])
    check_dir(tmp_path / "data/voxceleb1_test",
              {**expected_files(corpus / "voxceleb1/test/wav", "test"), "trials": O_TRIALS})
    assert "voxceleb1_test: 4 utterances, 2 speakers, 0.00 h, 4 trials" in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"audiokit-prep voxceleb: error: .*subset "
                                         r"'voxceleb2_dev' not found"):
        prep.main(["voxceleb", "--root", str(corpus), "--out", str(tmp_path / "d"),
                   "--subsets", "voxceleb2_dev"])
