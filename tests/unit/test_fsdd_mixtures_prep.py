"""FSDD separation and enhancement sets on a tiny slice of the real corpus, and their CLI."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiokit.cli.prep import main as prep_main
from audiokit.data.corpora.fsdd_mixtures import prepare_enhancement, prepare_separation
from audiokit.data.datadir import DataDir, read_kaldi_map
from audiokit.data.simulation.noise import snr_db

SEP_SPLITS = {"train": ((10, 12), 8), "valid": ((5, 6), 4), "test": ((0, 5), 6)}


def _fingerprint(root: Path) -> dict[str, str]:
    """Hash of every file, with the output root taken out of the (absolute) scp paths."""
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes().replace(str(root).encode(),
                                                                          b"ROOT")).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _pcm(path: str) -> np.ndarray:
    return sf.read(path, dtype="int16")[0].astype(np.int32)


@pytest.fixture(scope="module")
def separation(fsdd_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("sep") / "data"
    prepare_separation(fsdd_root, out, seed=3, splits=SEP_SPLITS)
    return out


def test_separation_dirs_load_and_references_match(separation):
    for name, ((lo, hi), count) in SEP_SPLITS.items():
        d = DataDir.load(separation / name)
        assert len(d) == count and d.utt2dur is not None
        spk1, spk2 = (read_kaldi_map(separation / name / f"spk{k}.scp") for k in (1, 2))
        info = read_kaldi_map(separation / name / "mix_info")
        assert set(spk1) == set(spk2) == set(info) == set(d.wav_scp)
        for utt, mix_path in d.wav_scp.items():
            mix, s1, s2 = _pcm(mix_path), _pcm(spk1[utt]), _pcm(spk2[utt])
            assert len(mix) == len(s1) == len(s2)
            assert len(mix) / 8000 == pytest.approx(d.utt2dur[utt], abs=1e-4)
            assert np.array_equal(mix, s1 + s2)  # exactly, in the 16-bit files
            src1, lvl1, src2, lvl2 = info[utt].split()
            assert float(lvl1) == 0.0 and -5 <= float(lvl2) <= 5
            speakers = [src.split("_")[0] for src in (src1, src2)]
            assert speakers[0] != speakers[1]
            assert all(lo <= int(src.split("_")[2]) < hi for src in (src1, src2))
            # "max" mode: the mixture is as long as the longer source recording.
            lengths = [sf.info(fsdd_path(src)).frames for src in (src1, src2)]
            assert len(mix) == max(lengths)
        meta = json.loads((separation / name / "mixture.json").read_text())
        assert meta["index_range"] == [lo, hi] and len(meta["mixtures"]) == count


def fsdd_path(utt: str) -> Path:
    speaker, digit, index = utt.split("_")
    return Path(os.environ["FSDD_ROOT"]) / "recordings" / f"{digit}_{speaker}_{int(index)}.wav"


def test_separation_deterministic_and_idempotent(separation, fsdd_root, tmp_path):
    again = tmp_path / "data"
    prepare_separation(fsdd_root, again, seed=3, splits=SEP_SPLITS)
    assert _fingerprint(again) == _fingerprint(separation)
    prepare_separation(fsdd_root, again, seed=3, splits=SEP_SPLITS)  # rerun in place
    assert _fingerprint(again) == _fingerprint(separation)
    other = tmp_path / "other"
    prepare_separation(fsdd_root, other, seed=4, splits={"test": ((0, 5), 6)})
    assert (read_kaldi_map(other / "test" / "mix_info")
            != read_kaldi_map(separation / "test" / "mix_info"))
    prepare_separation(fsdd_root, other, seed=4, splits={"test": ((0, 5), 3)})  # smaller rerun
    for sub in ("mix", "s1", "s2"):  # wavs of the earlier, larger run are gone
        assert len(list((other / "test" / "wav" / sub).glob("*.wav"))) == 3


def test_enhancement_sets(fsdd_root, tmp_path):
    splits = {"test": (0, 1)}
    kwargs = dict(splits=splits, reverb_prob=0.3, rt60_range=(0.2, 0.3), snr_range=(0.0, 10.0))
    out = tmp_path / "a" / "data"
    prepare_enhancement(fsdd_root, out, seed=2, **kwargs)
    d = DataDir.load(out / "test")
    assert len(d) == 50  # 5 speakers x 10 digits x index 0
    spk1 = read_kaldi_map(out / "test" / "spk1.scp")
    noise1 = read_kaldi_map(out / "test" / "noise1.scp")
    info = read_kaldi_map(out / "test" / "noise_info")
    conditions = json.loads((out / "test" / "conditions.json").read_text())["items"]
    assert set(spk1) == set(noise1) == set(info) == set(d.wav_scp) == set(conditions)
    kinds, reverberant = set(), 0
    for utt, path in d.wav_scp.items():
        noisy, target, noise = _pcm(path), _pcm(spk1[utt]), _pcm(noise1[utt])
        assert len(noisy) == len(target) == len(noise)
        kind, snr, rt60 = info[utt].split()
        kinds.add(kind)
        assert snr_db(noisy - noise, noise) == pytest.approx(float(snr), abs=0.02)
        source = conditions[utt]["source"]
        assert d.utt2spk[utt] == source.split("_")[0] and int(source.split("_")[2]) == 0
        dry = sf.read(fsdd_path(source), dtype="float32")[0]
        assert len(dry) == len(noisy)
        if rt60 == "-":  # no reverberation: noisy = clean target + noise, target is the recording
            assert np.array_equal(noisy, target + noise)
            assert np.corrcoef(target, dry)[0, 1] > 0.9999
        else:
            reverberant += 1
            assert 0.2 <= float(rt60) <= 0.3 and np.corrcoef(target, dry)[0, 1] > 0.5
    assert kinds == {"white", "pink", "brown", "babble"} and 0 < reverberant < 50
    for utt, line in read_kaldi_map(out / "test" / "utt2condition").items():  # for scoring
        kind, snr, rt60 = info[utt].split()
        band = 5 * int(float(snr) // 5)
        room = "dry" if rt60 == "-" else "reverberant"
        assert line == f"noise={kind} snr={band}-{band + 5}dB room={room}"
    again = tmp_path / "b" / "data"
    prepare_enhancement(fsdd_root, again, seed=2, **kwargs)
    assert _fingerprint(again) == _fingerprint(out)


def test_enhancement_copies_are_for_training_only(fsdd_root, tmp_path):
    out = tmp_path / "data"
    prepare_enhancement(fsdd_root, out, seed=2, splits={"train": (10, 11), "test": (0, 1)},
                        noise_kinds=["white", "pink"], reverb_prob=0.0, copies=3)
    train, test = DataDir.load(out / "train"), DataDir.load(out / "test")
    assert len(train) == 3 * 50 and len(test) == 50
    noise = read_kaldi_map(out / "train" / "noise_info")
    copies = [noise[f"george_3_10-n{c}"] for c in range(3)]
    assert len(set(copies)) == 3  # each copy its own noise draw (kind and SNR)


def test_cli_fsdd_mix_holds_speakers_out(fsdd_root, tmp_path):
    out = tmp_path / "data"
    prep_main(["fsdd-mix", "--root", str(fsdd_root), "--out", str(out), "--train-index", "10:12",
               "--train-count", "4", "--valid-index", "5:6", "--valid-count", "2",
               "--test-index", "0:1", "--test-count", "3", "--speakers", "george,theo,jackson",
               "--levels", "-2:2", "--seed", "5"])
    for name, count in (("train", 4), ("valid", 2), ("test", 3)):
        info = read_kaldi_map(out / name / "mix_info")
        assert len(info) == count
        for line in info.values():
            src1, _, src2, level = line.split()
            assert {src1.split("_")[0], src2.split("_")[0]} <= {"george", "theo", "jackson"}
            assert -2 <= float(level) <= 2


def test_cli_mix_generic_data_dir(tiny_fsdd, tmp_path):
    out = tmp_path / "mix"
    prep_main(["mix", str(tiny_fsdd / "test"), "--out", str(out), "-n", "5", "--num-sources", "3",
               "--levels", "-5:5", "--mode", "min", "--seed", "2"])
    d = DataDir.load(out)
    assert len(d) == 5 and (out / "spk3.scp").is_file()
    mixture = json.loads((out / "mixture.json").read_text())
    assert mixture["mode"] == "min" and mixture["num_sources"] == 3
    for utt, rec in mixture["mixtures"].items():
        assert len(set(rec["speakers"])) == 3
        lengths = [sf.info(fsdd_path(u)).frames for u in rec["sources"]]
        assert sf.info(d.wav_scp[utt]).frames == min(lengths)
    # A data dir without speakers is refused, naming the missing file.
    bare = tmp_path / "bare"
    shutil.copytree(tiny_fsdd / "test", bare)
    (bare / "utt2spk").unlink()
    (bare / "spk2utt").unlink()
    with pytest.raises(SystemExit, match="utt2spk"):
        prep_main(["mix", str(bare), "--out", str(tmp_path / "x"), "-n", "2"])
