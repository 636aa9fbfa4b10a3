"""LibriMix data prep on a tiny generated Libri<N>Mix tree (wavs + metadata CSVs, real layout)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiokit.cli import prep
from audiokit.data.corpora import librimix
from audiokit.data.datadir import DataDir, DataDirError, read_kaldi_map

SR = 8000
# split folder -> [(mixture id, samples)]
MIXTURES = {
    "train-100": [("103-1240-0000_19-198-0001", 1600), ("103-1240-0003_1034-121119-0040", 2000)],
    "dev": [("1272-128104-0000_2035-147961-0014", 4000),
            ("1462-170138-0001_6241-61943-0020", 2400)],
    "test": [("61-70968-0000_8455-210777-0012", 3200)],
}
GENERATED_AT = "/storage/jcosentino/LibriMix"  # CSV paths are those of the generating machine


def columns(num_speakers: int, mix_type: str) -> list[str]:
    refs = 1 if mix_type == "single" else num_speakers
    cols = ["mixture_ID", "original_mixture_ID", "mixture_path"]
    cols += [f"source_{k + 1}_path" for k in range(refs)]
    return cols + (["noise_path"] if mix_type != "clean" else []) + ["length"]


def make_tree(parent: Path, num_speakers: int = 2, folder_rate: int = SR, file_rate: int = SR,
              mode: str = "min", with_csv: bool = True) -> Path:
    """``parent/Libri<N>Mix/wav<k>k/<mode>/<split>/...`` and its ``metadata/`` CSVs."""
    rng = np.random.default_rng(0)
    name = f"Libri{num_speakers}Mix"
    base = parent / name / f"wav{folder_rate // 1000}k" / mode
    sources = [f"s{k + 1}" for k in range(num_speakers)]
    for split, items in MIXTURES.items():
        for folder in ["mix_clean", "mix_both", "mix_single", *sources, "noise"]:
            (base / split / folder).mkdir(parents=True)
            for mix_id, samples in items:
                sf.write(base / split / folder / f"{mix_id}.wav",
                         (0.1 * rng.standard_normal(samples)).astype("float32"), file_rate)
        if not with_csv:
            continue
        (base / "metadata").mkdir(exist_ok=True)
        old = f"{GENERATED_AT}/{name}/wav{folder_rate // 1000}k/{mode}/{split}"
        for mix_type in librimix.MIX_TYPES:
            with open(base / "metadata" / f"mixture_{split}_mix_{mix_type}.csv", "w",
                      newline="") as f:
                writer = csv.writer(f)
                writer.writerow(columns(num_speakers, mix_type))
                for mix_id, samples in items:
                    refs = sources[:1] if mix_type == "single" else sources
                    row = [mix_id, mix_id, f"{old}/mix_{mix_type}/{mix_id}.wav"]
                    row += [f"{old}/{s}/{mix_id}.wav" for s in refs]
                    row += [f"{old}/noise/{mix_id}.wav"] if mix_type != "clean" else []
                    writer.writerow(row + [samples])
    return parent


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A fresh tree, for the tests that break it."""
    return make_tree(tmp_path / "corpus")


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    """Built once: the tests using it only read it."""
    return make_tree(tmp_path_factory.mktemp("shared") / "corpus")


def split_dir(corpus: Path, split: str, n: int = 2, rate: int = SR, mode: str = "min") -> Path:
    return (corpus / f"Libri{n}Mix" / f"wav{rate // 1000}k" / mode / split).resolve()


def check_dir(out: Path, corpus: Path, split: str, mix_folder: str, refs: list[str],
              noise: bool, n: int = 2, rate: int = SR, mode: str = "min") -> None:
    """Every file of the data dir, entry by entry, against the fixture tree."""
    expected = {"wav.scp", "utt2spk", "spk2utt", "utt2dur"} | {f"spk{k + 1}.scp"
                                                               for k in range(len(refs))}
    expected |= {"noise1.scp"} if noise else set()
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    d = DataDir.load(out)  # passes the loader's cross-checks
    items = sorted(MIXTURES[split])
    assert d.utt_ids == [i for i, _ in items]
    src = split_dir(corpus, split, n, rate, mode)
    assert d.wav_scp == {i: str(src / mix_folder / f"{i}.wav") for i, _ in items}
    for k, ref in enumerate(refs):
        assert read_kaldi_map(out / f"spk{k + 1}.scp") == {i: str(src / ref / f"{i}.wav")
                                                           for i, _ in items}
    if noise:
        assert read_kaldi_map(out / "noise1.scp") == {i: str(src / "noise" / f"{i}.wav")
                                                      for i, _ in items}
    assert d.utt2spk == {i: i for i, _ in items}
    assert (out / "spk2utt").read_text() == "".join(f"{i} {i}\n" for i, _ in items)
    assert d.utt2dur == {i: round(s / rate, 4) for i, s in items}
    for path in [*d.wav_scp.values(), *read_kaldi_map(out / "spk1.scp").values()]:
        assert Path(path).is_file()


def test_clean_every_split_and_file(shared, tmp_path):
    dirs = librimix.prepare(shared, tmp_path / "data")
    assert list(dirs) == ["train-100", "dev", "test"]  # every split present, in SPLITS order
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["dev", "test", "train_100"]
    for split, name in (("train-100", "train_100"), ("dev", "dev"), ("test", "test")):
        assert dirs[split].path == tmp_path / "data" / name
        check_dir(tmp_path / "data" / name, shared, split, "mix_clean", ["s1", "s2"], noise=False)


@pytest.mark.parametrize("mix_type, mix_folder, refs, noise", [
    ("both", "mix_both", ["s1", "s2"], True),
    ("mix_both", "mix_both", ["s1", "s2"], True),
    ("single", "mix_single", ["s1"], True),  # enhancement: speaker 1 + noise
])
def test_mix_types_select_folders(shared, tmp_path, mix_type, mix_folder, refs, noise):
    librimix.prepare(shared, tmp_path / "data", mix_type=mix_type, splits=["dev"])
    check_dir(tmp_path / "data/dev", shared, "dev", mix_folder, refs, noise)


def test_durations_come_from_the_csv_length(corpus, tmp_path):
    md = split_dir(corpus, "dev").parent / "metadata/mixture_dev_mix_clean.csv"
    md.write_text(md.read_text().replace(",4000\n", ",6000\n"))
    d = librimix.prepare(corpus, tmp_path / "data", splits=["dev"])["dev"]
    assert d.utt2dur["1272-128104-0000_2035-147961-0014"] == 0.75


def test_without_csvs_lists_folders_and_reads_headers(tmp_path):
    with_csv = make_tree(tmp_path / "a")
    without = make_tree(tmp_path / "b", with_csv=False)
    librimix.prepare(with_csv, tmp_path / "out_a", mix_type="both")
    librimix.prepare(without / "Libri2Mix", tmp_path / "out_b", mix_type="both")  # root = LibriNMix
    for split in ("train_100", "dev", "test"):
        check_dir(tmp_path / "out_b" / split, without, split.replace("_", "-"), "mix_both",
                  ["s1", "s2"], noise=True)
        a = (tmp_path / "out_a" / split / "utt2dur").read_text()
        assert a == (tmp_path / "out_b" / split / "utt2dur").read_text()


def test_three_speakers_16k_max(tmp_path):
    corpus = make_tree(tmp_path / "c", num_speakers=3, folder_rate=16000, file_rate=16000,
                       mode="max")
    librimix.prepare(corpus, tmp_path / "data", num_speakers=3, sample_rate=16000, mode="max",
                     splits=["test"])
    check_dir(tmp_path / "data/test", corpus, "test", "mix_clean", ["s1", "s2", "s3"],
              noise=False, n=3, rate=16000, mode="max")


@pytest.mark.parametrize("with_csv, origin", [(True, r"mixture_dev_mix_both\.csv:3"),
                                              (False, r"folder .*dev/mix_both")])
def test_missing_source_file_is_named_with_its_mixture(tmp_path, with_csv, origin):
    corpus = make_tree(tmp_path / "c", with_csv=with_csv)
    missing = split_dir(corpus, "dev") / "s2/1462-170138-0001_6241-61943-0020.wav"
    missing.unlink()
    with pytest.raises(DataDirError, match=rf"{missing}: source 2 file of mixture "
                                           rf"'1462-170138-0001_6241-61943-0020' not found; "
                                           rf"mixture listed in .*{origin}"):
        librimix.prepare(corpus, tmp_path / "data", mix_type="both")
    assert not (tmp_path / "data").exists()  # every split is checked before anything is written


def test_missing_noise_folder_is_named(corpus, tmp_path):
    shutil.rmtree(split_dir(corpus, "test") / "noise")
    with pytest.raises(DataDirError, match=r"test/noise/61-70968-0000_8455-210777-0012\.wav: "
                                           r"noise file .* \(no folder .*test/noise\)"):
        librimix.prepare(corpus, tmp_path / "data", mix_type="single", splits=["test"])


def test_csv_path_in_the_wrong_folder(corpus, tmp_path):
    md = split_dir(corpus, "dev").parent / "metadata/mixture_dev_mix_clean.csv"
    md.write_text(md.read_text().replace("/s2/1272", "/s1/1272"))
    with pytest.raises(DataDirError, match=r"mixture_dev_mix_clean\.csv:2: mixture "
                                           r"'1272-128104-0000_2035-147961-0014': source_2_path "
                                           r".* is not a wav file in a 's2' folder"):
        librimix.prepare(corpus, tmp_path / "data", splits=["dev"])


def test_csv_with_more_speakers_than_asked(corpus, tmp_path):
    md = split_dir(corpus, "dev").parent / "metadata/mixture_dev_mix_clean.csv"
    md.write_text(md.read_text().replace("source_2_path,", "source_2_path,source_3_path,", 1))
    with pytest.raises(DataDirError, match=r"has column 'source_3_path': more than 2 speakers"):
        librimix.prepare(corpus, tmp_path / "data", splits=["dev"])


def test_rerun_with_another_mix_type_leaves_no_stale_scp(shared, tmp_path):
    librimix.prepare(shared, tmp_path / "data", mix_type="both", splits=["dev"])
    assert (tmp_path / "data/dev/noise1.scp").is_file()
    librimix.prepare(shared, tmp_path / "data", mix_type="clean", splits=["dev"])
    check_dir(tmp_path / "data/dev", shared, "dev", "mix_clean", ["s1", "s2"], noise=False)


def test_missing_split_rate_or_mode_names_the_folder(shared, tmp_path):
    with pytest.raises(DataDirError, match=r"wav8k/min/train-360: split 'train-360' not found "
                                           r".*\['dev', 'metadata', 'test', 'train-100'\]"):
        librimix.prepare(shared, tmp_path / "data", splits=["dev", "train-360"])
    with pytest.raises(DataDirError, match=r"Libri2Mix/wav16k/min: no LibriMix split folder"):
        librimix.prepare(shared, tmp_path / "data", sample_rate=16000)
    with pytest.raises(DataDirError, match=r"Libri2Mix/wav8k/max: no LibriMix split folder"):
        librimix.prepare(shared, tmp_path / "data", mode="max")
    assert not (tmp_path / "data").exists()


def test_file_rate_must_match_the_folder(tmp_path):
    corpus = make_tree(tmp_path / "c", folder_rate=16000, file_rate=SR)
    with pytest.raises(DataDirError, match=r"sample rate 8000 Hz, expected 16000 Hz"):
        librimix.prepare(corpus, tmp_path / "data", sample_rate=16000)


def test_cli(shared, tmp_path, capsys):
    prep.main(["librimix", "--root", str(shared), "--out", str(tmp_path / "data"),
               "--mix-type", "both", "--splits", "dev,test", "--num-workers", "2"])
    for split in ("dev", "test"):
        check_dir(tmp_path / "data" / split, shared, split, "mix_both", ["s1", "s2"], noise=True)
    out = capsys.readouterr().out
    assert "dev: 2 mixtures" in out and "test: 1 mixtures" in out


def test_cli_reports_errors_without_traceback(corpus, tmp_path):
    (split_dir(corpus, "test") / "s1/61-70968-0000_8455-210777-0012.wav").unlink()
    with pytest.raises(SystemExit, match=r"audiokit-prep librimix: error: .*test/s1/"
                                         r"61-70968-0000_8455-210777-0012\.wav: source 1 file"):
        prep.main(["librimix", "--root", str(corpus), "--out", str(tmp_path / "d")])
    with pytest.raises(SystemExit, match=r"audiokit-prep librimix: error: sample rate 8100"):
        prep.main(["librimix", "--root", str(corpus), "--out", str(tmp_path / "d"),
                   "--sample-rate", "8100"])


def test_recipe_prepare_stage(shared, tmp_path):
    """recipes/librimix/sep/run.sh stage 1 on the generated tree: data dirs, checked."""
    import os
    import subprocess
    import sys

    from conftest import REPO

    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    proc = subprocess.run([str(REPO / "recipes/librimix/sep/run.sh"), "--root", str(shared),
                           "--data-dir", str(tmp_path / "data"), "--exp-dir", str(tmp_path / "exp"),
                           "--stop-stage", "1"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "=== stage 1: prepare data dirs from the LibriMix layout" in proc.stdout
    for split, items in MIXTURES.items():
        d = DataDir.load(tmp_path / "data" / split.replace("-", "_"))
        assert sorted(d.utt_ids) == sorted(m for m, _ in items)
        assert (d.path / "spk2.scp").is_file()
