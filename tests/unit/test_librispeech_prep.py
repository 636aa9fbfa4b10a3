"""LibriSpeech data prep on a tiny generated corpus tree: every written file, and the errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiokit.cli import prep
from audiokit.data.corpora import librispeech
from audiokit.data.datadir import DataDir, DataDirError

SR = 16000
# subset -> speaker -> chapter -> [(utterance index, samples, transcript)]
CORPUS = {
    "dev-clean": {
        "84": {"121123": [(0, 8000, "GO DO YOU HEAR"), (1, 12000, "BUT IN LESS THAN FIVE MINUTES")],
               "121550": [(2, 4000, "SHE'S HERE")]},
        "174": {"50561": [(0, 16000, "FORGOTTEN TOO THE NAME"), (1, 2000, "A")],
                "84280": [(5, 24000, "HOW WE MUST SIMPLIFY"), (6, 6400, "IT SEEMS TO ME")]},
    },
    "test-clean": {
        "1089": {"134686": [(0, 3200, "HE HOPED THERE WOULD BE STEW"), (1, 4800, "STUFF IT")],
                 "134691": [(3, 8000, "THE UNIVERSITY")]},
        "121": {"121726": [(0, 1600, "ALSO A POPULAR CONTRIVANCE"), (4, 9600, "HARANGUE")],
                "127105": [(2, 11200, "IT WAS THIS OBSERVATION")]},
    },
}


def make_corpus(parent: Path) -> Path:
    rng = np.random.default_rng(0)
    for subset, speakers in CORPUS.items():
        for spk, chapters in speakers.items():
            for chap, utts in chapters.items():
                folder = parent / "LibriSpeech" / subset / spk / chap
                folder.mkdir(parents=True)
                lines = []
                for idx, samples, words in utts:
                    utt = f"{spk}-{chap}-{idx:04d}"
                    noise = (0.1 * rng.standard_normal(samples)).astype("float32")
                    sf.write(folder / f"{utt}.flac", noise, SR)
                    lines.append(f"{utt} {words}\n")
                (folder / f"{spk}-{chap}.trans.txt").write_text("".join(lines))
    return parent


def expected_files(corpus: Path, subset: str) -> dict[str, str]:
    rows = []  # (utt, path, words, spk, samples)
    for spk, chapters in CORPUS[subset].items():
        for chap, utts in chapters.items():
            for idx, samples, words in utts:
                utt = f"{spk}-{chap}-{idx:04d}"
                path = (corpus / "LibriSpeech" / subset / spk / chap / f"{utt}.flac").resolve()
                rows.append((utt, str(path), words, spk, samples))
    rows.sort()
    spk2utt: dict[str, list[str]] = {}
    for utt, _, _, spk, _ in rows:
        spk2utt.setdefault(spk, []).append(utt)
    return {
        "wav.scp": "".join(f"{u} {p}\n" for u, p, _, _, _ in rows),
        "text": "".join(f"{u} {w}\n" for u, _, w, _, _ in rows),
        "utt2spk": "".join(f"{u} {s}\n" for u, _, _, s, _ in rows),
        "spk2utt": "".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk2utt.items())),
        "utt2dur": "".join(f"{u} {n / SR:.4f}\n" for u, _, _, _, n in rows),
    }


@pytest.fixture
def corpus(tmp_path) -> Path:
    return make_corpus(tmp_path / "corpus")


def check_dir(out: Path, expected: dict[str, str]) -> None:
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    for name, text in expected.items():
        assert (out / name).read_text() == text, name


def test_writes_every_file_exactly(corpus, tmp_path):
    dirs = librispeech.prepare(corpus, tmp_path / "data", ["dev-clean", "test-clean"], num_workers=2)
    assert list(dirs) == ["dev-clean", "test-clean"]
    for subset, name in (("dev-clean", "dev_clean"), ("test-clean", "test_clean")):
        out = tmp_path / "data" / name
        check_dir(out, expected_files(corpus, subset))
        assert dirs[subset].path == out
        assert len(DataDir.load(out)) == {"dev-clean": 7, "test-clean": 6}[subset]  # the dir passes the loader's cross-checks
    # ids start with the speaker: spk2utt groups are contiguous in the sorted utt2spk
    assert (tmp_path / "data/dev_clean/spk2utt").read_text().splitlines()[0].startswith(
        "174 174-50561-0000 174-50561-0001 174-84280-0005")


def test_root_may_be_the_librispeech_folder_and_rerun_is_identical(corpus, tmp_path):
    librispeech.prepare(corpus, tmp_path / "a", ["dev-clean"])
    librispeech.prepare(corpus / "LibriSpeech", tmp_path / "b", ["dev-clean"])
    librispeech.prepare(corpus, tmp_path / "a", ["dev-clean"])  # idempotent
    for name in ("wav.scp", "text", "utt2spk", "spk2utt", "utt2dur"):
        assert (tmp_path / "a/dev_clean" / name).read_text() == \
            (tmp_path / "b/dev_clean" / name).read_text()
    check_dir(tmp_path / "a/dev_clean", expected_files(corpus, "dev-clean"))


def test_cli(corpus, tmp_path, capsys):
    prep.main(["librispeech", "--root", str(corpus), "--out", str(tmp_path / "data"),
               "--subsets", "test-clean", "--num-workers", "2"])
    check_dir(tmp_path / "data/test_clean", expected_files(corpus, "test-clean"))
    assert "test_clean: 6 utterances" in capsys.readouterr().out


def chapter(corpus: Path) -> Path:
    return corpus / "LibriSpeech/dev-clean/84/121123"


def test_missing_flac_for_a_transcript_line(corpus, tmp_path):
    (chapter(corpus) / "84-121123-0001.flac").unlink()
    with pytest.raises(DataDirError, match=r"84-121123\.trans\.txt:2: utterance '84-121123-0001' "
                                           r"has no audio file .*84-121123-0001\.flac"):
        librispeech.prepare(corpus, tmp_path / "data", ["dev-clean"])


def test_flac_without_transcript_line(corpus, tmp_path):
    sf.write(chapter(corpus) / "84-121123-0009.flac", np.zeros(800, "float32"), SR)
    with pytest.raises(DataDirError, match=r"84-121123-0009\.flac: no transcript line in "
                                           r".*84-121123\.trans\.txt"):
        librispeech.prepare(corpus, tmp_path / "data", ["dev-clean"])


def test_chapter_without_transcript_file(corpus, tmp_path):
    (chapter(corpus) / "84-121123.trans.txt").unlink()
    with pytest.raises(DataDirError, match=r"84-121123\.trans\.txt: transcript missing for 2 flac"):
        librispeech.prepare(corpus, tmp_path / "data", ["dev-clean"])


@pytest.mark.parametrize("bad_line", ["84-121123-0000", "84-999-0000 WRONG CHAPTER",
                                      "84_121123_0000 UNDERSCORES"])
def test_malformed_transcript_line(corpus, tmp_path, bad_line):
    trans = chapter(corpus) / "84-121123.trans.txt"
    trans.write_text(f"{bad_line}\n84-121123-0001 BUT IN LESS THAN FIVE MINUTES\n")
    with pytest.raises(DataDirError, match=rf"84-121123\.trans\.txt:1: expected "
                                           rf"'84-121123-NNNN TRANSCRIPT', got '{bad_line}'"):
        librispeech.prepare(corpus, tmp_path / "data", ["dev-clean"])


def test_duplicate_transcript_line(corpus, tmp_path):
    trans = chapter(corpus) / "84-121123.trans.txt"
    trans.write_text(trans.read_text() + "84-121123-0000 AGAIN\n")
    with pytest.raises(DataDirError, match=r"trans\.txt:3: duplicate utterance '84-121123-0000'"):
        librispeech.prepare(corpus, tmp_path / "data", ["dev-clean"])


def test_missing_subset_names_folder_and_lists_present_ones(corpus, tmp_path):
    with pytest.raises(DataDirError, match=r"LibriSpeech/train-clean-100: subset 'train-clean-100' "
                                           r"not found .*\['dev-clean', 'test-clean'\]"):
        librispeech.prepare(corpus, tmp_path / "data", ["dev-clean", "train-clean-100"])
    assert not (tmp_path / "data").exists()  # checked before anything is written


def test_cli_reports_errors_without_traceback(corpus, tmp_path):
    with pytest.raises(SystemExit, match=r"audiokit-prep librispeech: error: .*subset 'dev-other'"):
        prep.main(["librispeech", "--root", str(corpus), "--out", str(tmp_path / "d"),
                   "--subsets", "dev-other"])
