"""Codec inference: data dir -> token data dir -> audio, and the errors on bad codes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from audiokit.data.datadir import DataDirError, read_kaldi_map
from audiokit.inference.codec import Codec
from audiokit.models.codec import SEANetCodec


class _Task(nn.Module):
    def __init__(self):
        super().__init__()
        self.generator = SEANetCodec(channels=4, dimension=8, ratios=(2, 4, 5), codebook_size=16,
                                     bandwidths=(0.8, 1.6, 3.2), lstm_layers=0, kmeans_iters=2)
        self.generator.train()
        self.generator(0.1 * torch.randn(2, 4000))   # k-means init of every codebook


@pytest.fixture(scope="module")
def task():
    torch.manual_seed(0)
    return _Task()


@pytest.fixture()
def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    rng = np.random.default_rng(0)
    lines, text = [], []
    for i, n in enumerate((1234, 800, 41)):   # odd lengths, one barely a frame
        path = d / f"u{i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(n)).astype("float32"), 8000)
        lines.append(f"u{i} {path}\n")
        text.append(f"u{i} {i}\n")
    (d / "wav.scp").write_text("".join(lines))
    (d / "text").write_text("".join(text))
    return d


def test_encode_then_decode_data_dir(task, data_dir, tmp_path):
    tokens = tmp_path / "tokens"
    Codec(task, 8000, codec={"bandwidth": 1.6}).process_data_dir(str(data_dir), str(tokens))
    codes_scp = read_kaldi_map(tokens / "codes.scp")
    wav_scp = read_kaldi_map(tokens / "wav.scp")
    assert list(codes_scp) == ["u0", "u1", "u2"] and list(wav_scp) == list(codes_scp)
    assert (tokens / "text").read_text() == (data_dir / "text").read_text()
    codes = np.load(codes_scp["u0"])
    assert codes.dtype == np.int16 and codes.shape == (2, -(-1234 // 40))
    assert sf.info(wav_scp["u0"]).frames == 1234
    assert np.load(codes_scp["u2"]).shape == (2, 2)
    rtf = json.loads((tokens / "rtf.json").read_text())
    assert rtf["n_q"] == 2 and rtf["bitrate_bps"] == 1600 and rtf["num_utts"] == 3
    assert rtf["rtf"] == pytest.approx(rtf["encode_rtf"] + rtf["decode_rtf"])

    out = tmp_path / "decoded"
    Codec(task, 8000, codec={"mode": "decode"}).process_data_dir(str(tokens), str(out))
    decoded, _ = sf.read(read_kaldi_map(out / "wav.scp")["u0"], dtype="float32")
    first, _ = sf.read(wav_scp["u0"], dtype="float32")
    assert len(decoded) == codes.shape[1] * 40       # whole frames: the length is not coded
    np.testing.assert_allclose(decoded[:1234], first, atol=1e-5)


def test_python_encode_decode(task):
    codec = Codec(task, 8000, codec={"n_q": 4})
    assert codec.bitrate == 3200
    wav = 0.1 * torch.randn(400)
    codes = codec.encode(wav)
    assert codes.shape == (4, 10)
    assert codec.decode(codes).shape == (400,)
    assert codec.encode(wav[None].repeat(3, 1)).shape == (3, 4, 10)


def test_bad_bandwidth_lists_valid_ones(task):
    with pytest.raises(ValueError, match="trained for 0.8, 1.6, 3.2 kbps"):
        Codec(task, 8000, codec={"bandwidth": 2.4})
    with pytest.raises(ValueError, match="unknown codec option"):
        Codec(task, 8000, codec={"bandwith": 1.6})


@pytest.mark.parametrize("codes, message", [
    (np.zeros((3, 5), np.int16), "3 codebooks, but this model decodes"),
    (np.full((2, 5), 16, np.int16), "outside this model's codebook of 16"),
    (np.zeros((2, 5), np.float32), "must be integers"),
    (np.zeros(5, np.int16), r"must be \[n_q, frames\]"),
])
def test_mismatched_codes_name_the_utterance(task, tmp_path, codes, message):
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    np.save(tokens / "bad.npy", codes)
    np.save(tokens / "good.npy", np.zeros((2, 5), np.int16))
    (tokens / "codes.scp").write_text(f"good {tokens / 'good.npy'}\nbad {tokens / 'bad.npy'}\n")
    with pytest.raises(DataDirError, match=f"utterance 'bad'.*{message}"):
        Codec(task, 8000, codec={"mode": "decode"}).process_data_dir(str(tokens),
                                                                     str(tmp_path / "o"))


def test_decode_needs_codes_scp(task, data_dir, tmp_path):
    with pytest.raises(DataDirError, match="no codes.scp"):
        Codec(task, 8000, codec={"mode": "decode"}).process_data_dir(str(data_dir),
                                                                     str(tmp_path / "o"))
