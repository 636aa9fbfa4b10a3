"""SEANet codec: exact lengths, bitrate bookkeeping, bandwidth selection, forward contract."""

from __future__ import annotations

import random

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from audiokit.models.codec.codec import SEANetCodec
from audiokit.models.codec.seanet import SEANetDecoder, SEANetEncoder


def small_codec(**kw) -> SEANetCodec:
    args = dict(sample_rate=8000, channels=4, dimension=8, ratios=(2, 4, 5), codebook_size=16,
                bandwidths=(0.8, 1.6, 3.2), kmeans_iters=2)
    args.update(kw)
    return SEANetCodec(**args)


@pytest.mark.parametrize("ratios", [(2, 4, 5, 4), (5, 4, 4, 2), (3,)])
@pytest.mark.parametrize("lstm_layers", [0, 1])
def test_encoder_decoder_lengths(ratios, lstm_layers):
    hop = 1
    for r in ratios:
        hop *= r
    enc = SEANetEncoder(4, 8, ratios, (1, 3), lstm_layers)
    dec = SEANetDecoder(4, 8, ratios, (1, 3), lstm_layers)
    for frames in (1, 3, 7):
        z = enc(torch.randn(2, 1, frames * hop))
        assert z.shape == (2, 8, frames)
        assert dec(z).shape == (2, 1, frames * hop)


def test_bitrate_and_bandwidths():
    codec = small_codec()          # 8000 / 40 = 200 frames/s, 4 bits per codebook
    assert codec.frame_rate == 200
    assert codec.bitrate(1) == 800
    assert codec.num_quantizers == 4
    assert codec.bitrate() == 3200
    assert codec.n_q_for_bandwidth(1.6) == 2
    with pytest.raises(ValueError, match="trained for 0.8, 1.6, 3.2 kbps"):
        codec.n_q_for_bandwidth(2.4)
    with pytest.raises(ValueError, match="whole number of codebooks"):
        small_codec(bandwidths=(1.0,))


def test_forward_contract_and_encode_decode():
    torch.manual_seed(0)
    codec = small_codec(bandwidths=(0.8, 1.6, 3.2))
    wav = 0.1 * torch.randn(2, 1000)      # not a multiple of the hop (40)
    codec.train()
    out = codec(wav)
    assert out["audio"].shape == wav.shape
    assert set(out["losses"]) == {"commitment"} and out["losses"]["commitment"].ndim == 0
    out["audio"].abs().mean().backward()   # gradients reach the encoder through the RVQ
    assert codec.encoder.net[0].conv.parametrizations.weight.original1.grad is not None
    codec.eval()
    codes = codec.encode(wav, bandwidth=1.6)
    assert codes.shape == (2, 2, 25)
    assert codec.decode(codes).shape == (2, 1000)
    torch.testing.assert_close(codec(wav, n_q=2)["audio"], codec.decode(codes)[:, :1000])


def test_quantizer_dropout_changes_bitrate_in_training():
    random.seed(1)
    torch.manual_seed(0)
    codec = small_codec(bandwidths=(0.8, 1.6, 3.2), quantizer_dropout=1.0)
    codec.train()
    used = {codec(0.1 * torch.randn(1, 400))["codes"].shape[1] for _ in range(20)}
    assert used == {1, 2, 4}
    assert {codec.bitrate(n) for n in used} == {800, 1600, 3200}


@pytest.mark.parametrize("name, rate, top", [("codec_seanet", 8000, 6.0),
                                             ("codec_seanet_16k", 16000, 6.0)])
def test_model_yaml_instantiates(name, rate, top):
    from audiokit.cli.train import CONF_DIR

    cfg = OmegaConf.create({"data": {"sample_rate": rate},
                            "model": OmegaConf.load(f"{CONF_DIR}/model/{name}.yaml")})
    codec = instantiate(cfg.model)
    assert codec.sample_rate == rate and codec.bandwidths[-1] == top
    assert codec.frame_rate == 50
    for b in codec.bandwidths:
        assert codec.bitrate(codec.n_q_for_bandwidth(b)) == pytest.approx(b * 1000)


def test_folding_weight_norm_keeps_the_output():
    torch.manual_seed(0)
    codec = small_codec()
    codec.train()
    codec(0.1 * torch.randn(2, 800))
    codec.eval()
    wav = 0.1 * torch.randn(1, 800)
    codes, audio = codec.encode(wav), codec(wav)["audio"]
    codec.remove_weight_norm()
    assert not any(hasattr(m, "parametrizations") for m in codec.modules())
    assert torch.equal(codec.encode(wav), codes)
    torch.testing.assert_close(codec(wav)["audio"], audio, atol=1e-5, rtol=1e-4)
