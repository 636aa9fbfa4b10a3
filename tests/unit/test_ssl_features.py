"""SSL features frontend: layer choice and SUPERB weighted sum, freezing, frame lengths under
padding, and loading an audiokit Audio-MAE model file."""

from __future__ import annotations

import pytest
import torch

from audiokit.frontends import LogMel
from audiokit.frontends.ssl_features import SSLFeatures
from audiokit.models.ssl.audio_mae import AudioMAE
from audiokit.models.ssl.upstream import ASTUpstream, BEATsUpstream, Wav2Vec2Upstream

SR = 8000


def ast_upstream(**kw) -> ASTUpstream:
    torch.manual_seed(0)
    return ASTUpstream(LogMel(SR, n_mels=16), patch_size=(8, 8), patch_stride=(8, 8), d_model=32,
                       num_layers=3, num_heads=4, ffn_dim=64, max_frames=300, **kw)


def tiny_beats() -> BEATsUpstream:
    torch.manual_seed(0)
    return BEATsUpstream(embed_dim=16, encoder_layers=2, encoder_embed_dim=32,
                         encoder_ffn_embed_dim=64, encoder_attention_heads=4, conv_pos=8,
                         conv_pos_groups=4, num_buckets=32, max_distance=64, sample_rate=SR)


def tiny_wav2vec2() -> Wav2Vec2Upstream:
    torch.manual_seed(0)
    # layer-norm feature extractor: group norm (base models) normalises over the padded length
    arch = {"extractor_mode": "layer_norm",
            "extractor_conv_layer_config": [[16, 10, 5], [16, 3, 2], [16, 2, 2]],
            "extractor_conv_bias": False, "encoder_embed_dim": 32, "encoder_pos_conv_kernel": 8,
            "encoder_pos_conv_groups": 4, "encoder_num_layers": 2, "encoder_num_heads": 4,
            "encoder_ff_interm_features": 64, "encoder_layer_norm_first": False}
    return Wav2Vec2Upstream(sample_rate=SR, arch=arch)  # resampled to 16 kHz


def batch(seconds=(1.0, 0.6)):
    g = torch.Generator().manual_seed(1)
    lens = torch.tensor([int(s * SR) for s in seconds])
    return torch.randn(len(lens), int(lens.max()), generator=g) * 0.1, lens


def test_one_hot_weights_give_that_layer_and_the_sum_is_softmax_weighted():
    frontend = SSLFeatures(ast_upstream()).eval()
    wav, lens = batch()
    with torch.no_grad():
        hidden, hidden_lens = frontend.upstream.hidden_states(wav, lens)
        for k in range(frontend.num_hidden):
            frontend.layer_weights.fill_(float("-inf"))
            frontend.layer_weights[k] = 0.0
            out, out_lens = frontend(wav, lens)
            assert torch.equal(out, hidden[k]) and torch.equal(out_lens, hidden_lens)
            chosen, _ = SSLFeatures(frontend.upstream, layer=k)(wav, lens)
            assert torch.equal(chosen, hidden[k])
        w = torch.tensor([0.3, -1.0, 2.0, 0.5])
        frontend.layer_weights.copy_(w)
        out, _ = frontend(wav, lens)
    expected = sum(p * h for p, h in zip(w.softmax(0), hidden, strict=True))
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match="an index into the 4 hidden states"):
        SSLFeatures(frontend.upstream, layer=4)


def test_frozen_upstream_gets_no_gradient_but_the_layer_weights_do():
    frontend = SSLFeatures(ast_upstream(), freeze=True).train()
    assert not frontend.upstream.training  # no dropout in a frozen encoder
    out, _ = frontend(*batch())
    out.square().mean().backward()
    assert frontend.layer_weights.grad is not None and frontend.layer_weights.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in frontend.upstream.parameters())

    tuned = SSLFeatures(ast_upstream(), freeze=False).train()
    out, _ = tuned(*batch())
    out.square().mean().backward()
    assert tuned.upstream.encoder.encoder.layers[0].linear1.weight.grad.abs().sum() > 0


# frames per second: 8 x 10 ms patches; 16 x 10 ms patches; 16 kHz / a conv stride of 20
@pytest.mark.parametrize("make, rate", [(ast_upstream, 12.5), (tiny_beats, 6.25), (tiny_wav2vec2, 800)])
def test_frames_and_lengths_do_not_depend_on_padding(make, rate):
    frontend = SSLFeatures(make()).eval()
    wav, lens = batch((1.0, 0.6))
    with torch.no_grad():
        out, out_lens = frontend(wav, lens)
        alone, alone_lens = frontend(wav[1:, : lens[1]], lens[1:])
    n = int(alone_lens[0])
    assert out_lens[1] == n and out.shape[1] == int(out_lens.max())
    assert abs(int(out_lens[0]) - rate) <= 1.5 and abs(n - 0.6 * rate) <= 1.5
    torch.testing.assert_close(out[1, :n], alone[0, :n], atol=1e-4, rtol=1e-4)
    assert out[1, n:].abs().sum() == 0  # padding frames are zero


def test_ast_upstream_loads_an_audio_mae_model_file(tmp_path):
    torch.manual_seed(3)
    frontend = LogMel(SR, n_mels=16)
    frontend.cmvn.mean.uniform_(-1, 1)
    mae = AudioMAE(16, (8, 8), (8, 8), 32, 3, 4, 64, max_frames=300)
    state = {**{f"frontend.{k}": v for k, v in frontend.state_dict().items()},
             **{f"model.{k}": v for k, v in mae.state_dict().items()}}
    hparams = {"frontend": {"_target_": "audiokit.frontends.LogMel", "sample_rate": SR,
                            "n_mels": 16, "win_ms": 25.0, "hop_ms": 10.0},
               "model": {"_target_": "audiokit.models.ssl.audio_mae.AudioMAE", "d_model": 32,
                         "num_heads": 4, "patch_size": [8, 8], "max_frames": 300}}
    path = tmp_path / "model.pt"
    torch.save({"hparams": hparams, "state_dict": state}, path)
    upstream = ast_upstream(pretrained=str(tmp_path))  # the exp dir
    assert torch.equal(upstream.frontend.cmvn.mean, frontend.cmvn.mean)
    for k, v in mae.encoder.state_dict().items():
        assert torch.equal(upstream.encoder.state_dict()[k], v), k
    hparams["model"]["num_heads"] = 2
    torch.save({"hparams": hparams, "state_dict": state}, path)
    with pytest.raises(ValueError, match="model.num_heads: config 4 vs file 2"):
        ast_upstream(pretrained=str(path))
