"""HuBERT-style MFCC k-means targets: features, seeded stability, idempotent writing."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from torchaudio.compliance import kaldi

from audiokit.data.datadir import read_kaldi_map
from audiokit.models.ssl.kmeans_targets import (
    fit_kmeans,
    main,
    mfcc_features,
    ssl_layer_features,
    write_targets,
)

SR = 8000


@pytest.fixture
def data_dir(tmp_path):
    """Six utterances: three of a 300 Hz tone, three of white noise."""
    rng = np.random.default_rng(0)
    lines = []
    for i in range(6):
        n = SR // 2 + 800 * i
        t = np.arange(n) / SR
        wav = 0.3 * np.sin(2 * np.pi * 300 * t) if i % 2 == 0 else 0.3 * rng.standard_normal(n)
        path = tmp_path / f"u{i}.wav"
        sf.write(path, (wav + 0.001 * rng.standard_normal(n)).astype(np.float32), SR)
        lines.append(f"u{i} {path}")
    d = tmp_path / "data"
    d.mkdir()
    (d / "wav.scp").write_text("\n".join(lines) + "\n")
    return d


def test_mfcc_features_are_kaldi_mfcc_with_deltas():
    wav = torch.randn(SR) * 0.1
    feats = mfcc_features(wav, SR)
    assert feats.shape == (1 + (SR - 200) // 80, 39)
    ref = kaldi.mfcc(wav.unsqueeze(0) * 32768, sample_frequency=SR, num_ceps=13,
                     use_energy=False, dither=0.0)
    torch.testing.assert_close(feats[:, :13], ref)
    # delta of a frame in the middle: sum_n n (c[t+n] - c[t-n]) / (2 sum_n n^2), n = 1, 2
    t = 20
    delta = sum(n * (ref[t + n] - ref[t - n]) for n in (1, 2)) / 10
    torch.testing.assert_close(feats[t, 13:26], delta)


def test_kmeans_is_stable_given_a_seed():
    rng = np.random.default_rng(1)
    feats = [rng.standard_normal((300, 39)) + c for c in (0.0, 4.0, 8.0)]
    a, b = fit_kmeans(feats, 5, seed=3, max_frames=500), fit_kmeans(feats, 5, seed=3, max_frames=500)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)
    assert np.array_equal(a.predict(feats[1]), b.predict(feats[1]))


def test_targets_written_once_per_frame_and_reproducible(data_dir, tmp_path, capsys):
    first = read_kaldi_map(write_targets(data_dir, tmp_path / "t1", clusters=2, seed=0))
    second = read_kaldi_map(write_targets(data_dir, tmp_path / "t2", clusters=2, seed=0))
    assert first == second
    wavs = read_kaldi_map(data_dir / "wav.scp")
    for utt, source in wavs.items():
        labels = [int(x) for x in first[utt].split()]
        assert len(labels) == 1 + (sf.info(source).frames - 200) // 80
        assert set(labels) <= {0, 1}
    # two clusters split tone frames from noise frames
    tone = {int(x) for u in ("u0", "u2", "u4") for x in first[u].split()[2:-2]}
    noise = {int(x) for u in ("u1", "u3", "u5") for x in first[u].split()[2:-2]}
    assert len(tone) == 1 and len(noise) == 1 and tone != noise

    assert main([str(data_dir), str(tmp_path / "t1"), "--clusters", "2"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="other settings"):
        write_targets(data_dir, tmp_path / "t1", clusters=3, seed=0)


def test_targets_from_an_ssl_layer(data_dir, tmp_path):
    """Iteration 2: cluster a layer of an SSL frontend (random FSDD-size MAE encoder here):
    one label per encoder frame (80 ms patches), reproducible."""
    import importlib.resources

    yaml = importlib.resources.files("audiokit") / "conf/frontend/ssl_ast.yaml"
    feats = ssl_layer_features(yaml, None, 2, SR)
    torch.manual_seed(0)
    out = [read_kaldi_map(write_targets(data_dir, tmp_path / f"s{i}", clusters=3, seed=0,
                                        sample_rate=SR, features=feats, feature_name="layer2"))
           for i in range(2)]
    assert out[0] == out[1]
    wavs = read_kaldi_map(data_dir / "wav.scp")
    for utt, source in wavs.items():
        frames = 1 + (sf.info(source).frames - 200) // 80  # log-mel frames at 8 kHz
        assert len(out[0][utt].split()) == -(-(frames - 8) // 8) + 1  # 8-frame patches
