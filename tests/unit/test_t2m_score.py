"""audiokit-score task=t2m without judges (chroma key and mode only), its chance rows, and its
bad input; the judges (timbre, tempo, Fréchet distance) run in the recipe's integration test."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf
from test_t2m_render import chorales_dir

from audiokit.data.datadir import read_kaldi_map
from audiokit.music.render import RenderConfig, render
from audiokit.music.t2m_chance import derangement, make_chance_dir
from audiokit.music.t2m_score import headline, results_section, score_t2m
from audiokit.utils.errors import UserError


@pytest.fixture(scope="module")
def test_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("t2m_score")
    cfg = RenderConfig(clip_seconds=5.0, clips_per_chorale={"train": 0, "valid": 0, "test": 4})
    render(chorales_dir(root / "chorales"), root / "audio", cfg, splits=("test",))
    return root / "audio" / "test"


def test_real_clips_follow_their_captions(test_dir, tmp_path):
    report = score_t2m(str(test_dir), str(test_dir), [], out_dir=tmp_path)
    assert report["num_utts"] == 8
    assert set(report["adherence"]) == {"key", "mode", "tonic"}  # no judges: chroma only
    assert report["adherence"]["key"] >= 0.875  # plain cadences: chroma finds their key
    assert report["adherence"]["mode"] >= report["adherence"]["key"]
    modes = list(read_kaldi_map(test_dir / "utt2mode").values())
    assert report["chance_majority"]["mode"] == max(modes.count("major"), modes.count("minor")) / 8
    rows = (tmp_path / "per_utt.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:4] == ["utt", "caption", "key_true", "key_judged"] and len(rows) == 9
    assert "key (chroma)" in "\n".join(results_section({**report, "name": "x"}))
    assert headline(report).startswith("adherence key ")


def test_chance_rows(test_dir, tmp_path):
    shuffled = make_chance_dir(test_dir, tmp_path / "shuffled", "shuffled", seed=3)
    real, fake = read_kaldi_map(test_dir / "wav.scp"), read_kaldi_map(shuffled / "wav.scp")
    assert sorted(real.values()) == sorted(fake.values()) and all(real[u] != fake[u] for u in real)
    assert read_kaldi_map(shuffled / "utt2dur") == read_kaldi_map(test_dir / "utt2dur")
    noise = make_chance_dir(test_dir, tmp_path / "noise", "noise", seed=3)
    for utt, path in read_kaldi_map(noise / "wav.scp").items():
        audio, rate = sf.read(path)
        assert rate == 16000 and len(audio) == 5 * 16000 and utt in real
    report = score_t2m(str(test_dir), str(noise), [])
    assert report["adherence"]["key"] <= 0.5
    p = derangement(50, np.random.default_rng(0))
    assert sorted(p) == list(range(50)) and not np.any(p == np.arange(50))


def test_missing_clip_and_missing_facts_are_named(test_dir, tmp_path):
    hyp = tmp_path / "hyp"
    hyp.mkdir()
    lines = (test_dir / "wav.scp").read_text().splitlines()
    (hyp / "wav.scp").write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(UserError, match="1 caption\\(s\\) without a clip"):
        score_t2m(str(test_dir), str(hyp), [])
    ref = tmp_path / "ref"
    shutil.copytree(test_dir, ref)
    (ref / "utt2mode").unlink()
    with pytest.raises(UserError, match="utt2mode: missing"):
        score_t2m(str(ref), str(test_dir), [])
