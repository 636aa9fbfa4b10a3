"""WHAM!/WHAMR! data prep on tiny generated trees in the real layout: tasks pick the folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiokit.cli import prep
from audiokit.data.corpora import wham
from audiokit.data.datadir import DataDir, DataDirError, read_kaldi_map

SR = 8000
# split -> [(wsj0-2mix style mixture id, samples)]
MIXTURES = {
    "tr": [("011a010d_0.54422_20do010c_-0.54422", 2400),
           ("01zo030l_1.0767_02bo0315_-1.0767", 1600)],
    "cv": [("011o031b_1.4332_206a010u_-1.4332", 3200)],
    "tt": [("050a050a_0.032494_446o030v_-0.032494", 4000),
           ("422c020j_1.1557_440c020f_-1.1557", 2000)],
}
WHAM_FOLDERS = ["mix_clean", "mix_both", "mix_single", "s1", "s2", "noise"]
WHAMR_FOLDERS = [f"{f}_{cond}" for f in ("mix_clean", "mix_both", "mix_single", "s1", "s2")
                 for cond in ("anechoic", "reverb")] + ["noise"]


def make_tree(root: Path, whamr: bool = False, rate: int = SR, mode: str = "min") -> Path:
    """``root/wav<k>k/<mode>/<tr|cv|tt>/<folder>/<id>.wav`` as the WHAM!/WHAMR! scripts write."""
    rng = np.random.default_rng(0)
    for split, items in MIXTURES.items():
        for folder in WHAMR_FOLDERS if whamr else WHAM_FOLDERS:
            path = root / f"wav{rate // 1000}k" / mode / split / folder
            path.mkdir(parents=True)
            for mix_id, samples in items:
                sf.write(path / f"{mix_id}.wav",
                         (0.1 * rng.standard_normal(samples)).astype("float32"), rate)
    return root


@pytest.fixture
def wham_root(tmp_path) -> Path:
    return make_tree(tmp_path / "wham_mix")


@pytest.fixture(scope="module")
def whamr_root(tmp_path_factory) -> Path:
    """Built once: the tests using it only read it."""
    return make_tree(tmp_path_factory.mktemp("corpus") / "whamr", whamr=True)


def split_dir(root: Path, split: str, rate: int = SR, mode: str = "min") -> Path:
    return (root / f"wav{rate // 1000}k" / mode / split).resolve()


def check_dir(out: Path, root: Path, split: str, mix_folder: str, refs: list[str],
              noise: bool, rate: int = SR, mode: str = "min") -> None:
    """Every file of the data dir, entry by entry, against the fixture tree."""
    expected = {"wav.scp", "utt2spk", "spk2utt", "utt2dur"} | {f"spk{k + 1}.scp"
                                                               for k in range(len(refs))}
    expected |= {"noise1.scp"} if noise else set()
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    d = DataDir.load(out)  # passes the loader's cross-checks
    items = sorted(MIXTURES[split])
    assert d.utt_ids == [i for i, _ in items]
    src = split_dir(root, split, rate, mode)
    assert d.wav_scp == {i: str(src / mix_folder / f"{i}.wav") for i, _ in items}
    for k, ref in enumerate(refs):  # e.g. spk2.scp of mixture X is s2/X.wav
        assert read_kaldi_map(out / f"spk{k + 1}.scp") == {i: str(src / ref / f"{i}.wav")
                                                           for i, _ in items}
    if noise:
        assert read_kaldi_map(out / "noise1.scp") == {i: str(src / "noise" / f"{i}.wav")
                                                      for i, _ in items}
    assert d.utt2spk == {i: i for i, _ in items}
    assert d.utt2dur == {i: round(s / rate, 4) for i, s in items}


def test_sep_clean_every_split_and_file(wham_root, tmp_path):
    dirs = wham.prepare(wham_root, tmp_path / "data", num_workers=2)
    assert list(dirs) == ["tr", "cv", "tt"]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["cv", "tr", "tt"]
    for split in ("tr", "cv", "tt"):
        assert dirs[split].path == tmp_path / "data" / split
        check_dir(tmp_path / "data" / split, wham_root, split, "mix_clean", ["s1", "s2"], False)


@pytest.mark.parametrize("task, mix_folder, refs, noise", [
    ("sep_noisy", "mix_both", ["s1", "s2"], True),
    ("enh_single", "mix_single", ["s1"], True),
    ("enhance_single", "mix_single", ["s1"], True),
    ("enh_both", "mix_both", ["mix_clean"], True),  # target: both speakers' clean speech
])
def test_wham_tasks_select_folders(wham_root, tmp_path, task, mix_folder, refs, noise):
    wham.prepare(wham_root, tmp_path / "data", task=task, splits=["tt"])
    check_dir(tmp_path / "data/tt", wham_root, "tt", mix_folder, refs, noise)


@pytest.mark.parametrize("task, reverb, targets, mix_folder, refs, noise", [
    ("sep_clean", False, "anechoic", "mix_clean_anechoic", ["s1_anechoic", "s2_anechoic"], False),
    ("sep_clean", True, "anechoic", "mix_clean_reverb", ["s1_anechoic", "s2_anechoic"], False),
    ("sep_reverb", False, "anechoic", "mix_clean_reverb", ["s1_anechoic", "s2_anechoic"], False),
    ("sep_noisy", True, "anechoic", "mix_both_reverb", ["s1_anechoic", "s2_anechoic"], True),
    ("sep_reverb_noisy", False, "anechoic", "mix_both_reverb", ["s1_anechoic", "s2_anechoic"],
     True),
    ("sep_noisy", True, "reverb", "mix_both_reverb", ["s1_reverb", "s2_reverb"], True),
    ("enh_single", True, "anechoic", "mix_single_reverb", ["s1_anechoic"], True),
    ("enh_both", True, "anechoic", "mix_both_reverb", ["mix_clean_anechoic"], True),
])
def test_whamr_tasks_select_folders(whamr_root, tmp_path, task, reverb, targets, mix_folder,
                                    refs, noise):
    wham.prepare(whamr_root, tmp_path / "data", task=task, reverb=reverb, targets=targets,
                 splits=["cv"])
    check_dir(tmp_path / "data/cv", whamr_root, "cv", mix_folder, refs, noise)


def test_16k_max(tmp_path):
    root = make_tree(tmp_path / "w16", rate=16000, mode="max")
    wham.prepare(root, tmp_path / "data", sample_rate=16000, mode="max", task="sep_noisy",
                 splits=["tr"])
    check_dir(tmp_path / "data/tr", root, "tr", "mix_both", ["s1", "s2"], True, 16000, "max")


def test_reverb_on_a_wham_tree_fails(wham_root, tmp_path):
    for kwargs in ({"reverb": True}, {"task": "sep_reverb"}, {"targets": "reverb"}):
        with pytest.raises(DataDirError, match=r"wav8k/min/tr: a WHAM! split .* need WHAMR!"):
            wham.prepare(wham_root, tmp_path / "data", **kwargs)
    assert not (tmp_path / "data").exists()


def test_missing_source_file_is_named_with_its_mixture(wham_root, tmp_path):
    missing = split_dir(wham_root, "tt") / "s2/422c020j_1.1557_440c020f_-1.1557.wav"
    missing.unlink()
    with pytest.raises(DataDirError, match=rf"{missing}: source 2 file of mixture "
                                           r"'422c020j_1\.1557_440c020f_-1\.1557' not found; "
                                           r"mixture listed in folder .*tt/mix_clean"):
        wham.prepare(wham_root, tmp_path / "data")
    assert not (tmp_path / "data").exists()  # tr and cv were fine, but nothing is written


def test_missing_mixture_folder_lists_the_present_ones(wham_root, tmp_path):
    shutil.rmtree(split_dir(wham_root, "cv") / "mix_single")
    with pytest.raises(DataDirError, match=r"cv/mix_single: mixture folder not found "
                                           r"\(folders in .*cv: \['mix_both', 'mix_clean', "
                                           r"'noise', 's1', 's2'\]\)"):
        wham.prepare(wham_root, tmp_path / "data", task="enh_single")


def test_bad_root_rate_split_or_task(wham_root, tmp_path):
    with pytest.raises(DataDirError, match=r"wav16k/min: not found .*found in .*: \['wav8k'\]"):
        wham.prepare(wham_root, tmp_path / "data", sample_rate=16000)
    with pytest.raises(DataDirError, match=r"wav8k/min/dev: split 'dev' not found "
                                           r".*\['cv', 'tr', 'tt'\]"):
        wham.prepare(wham_root, tmp_path / "data", splits=["tr", "dev"])
    with pytest.raises(ValueError, match=r"task 'sep_loud': expected one of"):
        wham.prepare(wham_root, tmp_path / "data", task="sep_loud")


def test_rerun_with_another_task_leaves_no_stale_scp(whamr_root, tmp_path):
    wham.prepare(whamr_root, tmp_path / "data", task="sep_noisy", splits=["tt"])
    wham.prepare(whamr_root, tmp_path / "data", task="enh_single", reverb=True, splits=["tt"])
    check_dir(tmp_path / "data/tt", whamr_root, "tt", "mix_single_reverb", ["s1_anechoic"], True)


def test_cli(whamr_root, tmp_path, capsys):
    prep.main(["wham", "--root", str(whamr_root), "--out", str(tmp_path / "data"),
               "--task", "sep_noisy", "--reverb", "--num-workers", "2"])
    for split in ("tr", "cv", "tt"):
        check_dir(tmp_path / "data" / split, whamr_root, split, "mix_both_reverb",
                  ["s1_anechoic", "s2_anechoic"], True)
    out = capsys.readouterr().out
    assert "tr: 2 mixtures" in out and "cv: 1 mixtures" in out


def test_cli_reports_errors_without_traceback(wham_root, tmp_path):
    with pytest.raises(SystemExit, match=r"audiokit-prep wham: error: .*need WHAMR!"):
        prep.main(["wham", "--root", str(wham_root), "--out", str(tmp_path / "d"), "--reverb"])


def test_recipe_prepare_stage(wham_root, tmp_path):
    """recipes/wham/sep/run.sh stage 1 on the generated tree: tr, cv, tt data dirs, checked."""
    import os
    import subprocess
    import sys

    from conftest import REPO

    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    proc = subprocess.run([str(REPO / "recipes/wham/sep/run.sh"), "--root", str(wham_root),
                           "--data-dir", str(tmp_path / "data"), "--exp-dir", str(tmp_path / "exp"),
                           "--task", "sep_clean", "--stop-stage", "1"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for split in ("tr", "cv", "tt"):
        d = DataDir.load(tmp_path / "data" / split)
        assert len(d) > 0 and (d.path / "spk1.scp").is_file() and (d.path / "spk2.scp").is_file()
