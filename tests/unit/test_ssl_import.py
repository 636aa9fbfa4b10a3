"""Import of published Audio-MAE and BEATs checkpoints, on random state dicts in the
published key layouts written by the tests (no downloads)."""

from __future__ import annotations

import argparse
import logging
import math

import pytest
import torch
import torch.nn.functional as F

from audiokit.models.classification.ast import ASTClassifier, ASTEncoder
from audiokit.models.ssl.audio_mae_import import export_audio_mae, load_audio_mae, read_audio_mae
from audiokit.models.ssl.beats import BEATs, export_beats, relative_position_bucket

# ----------------------------------------------------------------------------- Audio-MAE

D, HEADS, BLOCKS, FFN = 32, 4, 2, 64
PATCH, MELS, FRAMES = 4, 16, 24  # grid: 6 time x 4 frequency patches


def timm_vit_state(seed: int = 0, time_patches: int = FRAMES // PATCH) -> dict[str, torch.Tensor]:
    """A random Audio-MAE pretraining state dict in the published (timm ViT) layout."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=0.2):
        return torch.randn(*shape, generator=g) * scale

    tokens = time_patches * (MELS // PATCH)
    sd = {"patch_embed.proj.weight": r(D, 1, PATCH, PATCH), "patch_embed.proj.bias": r(D),
          "cls_token": r(1, 1, D), "pos_embed": r(1, 1 + tokens, D),
          "norm.weight": 1 + r(D), "norm.bias": r(D)}
    for i in range(BLOCKS):
        p = f"blocks.{i}."
        sd.update({p + "norm1.weight": 1 + r(D), p + "norm1.bias": r(D),
                   p + "attn.qkv.weight": r(3 * D, D), p + "attn.qkv.bias": r(3 * D),
                   p + "attn.proj.weight": r(D, D), p + "attn.proj.bias": r(D),
                   p + "norm2.weight": 1 + r(D), p + "norm2.bias": r(D),
                   p + "mlp.fc1.weight": r(FFN, D), p + "mlp.fc1.bias": r(FFN),
                   p + "mlp.fc2.weight": r(D, FFN), p + "mlp.fc2.bias": r(D)})
    # the pretraining decoder, which the import drops
    sd.update({"mask_token": r(1, 1, 16), "decoder_embed.weight": r(16, D),
               "decoder_pos_embed": r(1, 1 + tokens, 16), "decoder_pred.weight": r(16, 16)})
    return sd


def timm_vit_forward(sd: dict, x: torch.Tensor) -> torch.Tensor:
    """What the published model computes, by hand: x [B, 1, time, freq] -> normalised tokens
    [B, 1 + N, D] (CLS first, time-major)."""
    tokens = F.conv2d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=PATCH)
    tokens = tokens.flatten(2).transpose(1, 2) + sd["pos_embed"][:, 1:]
    cls = (sd["cls_token"] + sd["pos_embed"][:, :1]).expand(x.shape[0], -1, -1)
    h = torch.cat([cls, tokens], dim=1)

    def ln(t, name):
        return F.layer_norm(t, (D,), sd[name + ".weight"], sd[name + ".bias"], eps=1e-6)

    for i in range(BLOCKS):
        p = f"blocks.{i}."
        q, k, v = F.linear(ln(h, p + "norm1"), sd[p + "attn.qkv.weight"],
                           sd[p + "attn.qkv.bias"]).chunk(3, dim=-1)
        heads = [t.unflatten(-1, (HEADS, D // HEADS)).transpose(1, 2) for t in (q, k, v)]
        att = (heads[0] @ heads[1].transpose(-1, -2) / math.sqrt(D // HEADS)).softmax(-1)
        a = (att @ heads[2]).transpose(1, 2).flatten(2)
        h = h + F.linear(a, sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"])
        m = F.gelu(F.linear(ln(h, p + "norm2"), sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"]))
        h = h + F.linear(m, sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"])
    return ln(h, "norm")


def small_ast(max_frames: int = FRAMES, eps: float = 1e-6) -> ASTEncoder:
    return ASTEncoder(MELS, (PATCH, PATCH), (PATCH, PATCH), D, BLOCKS, HEADS, FFN, 0.0,
                      max_frames, layer_norm_eps=eps)


@pytest.fixture
def mae_file(tmp_path):
    path = tmp_path / "pretrained.pth"
    # published training checkpoints also carry their argparse args: read as inert data
    torch.save({"model": timm_vit_state(), "epoch": 32, "args": argparse.Namespace(lr=1e-3)}, path)
    return path


def test_audio_mae_loads_and_round_trips(mae_file):
    published = timm_vit_state()
    encoder = small_ast()
    load_audio_mae(encoder, mae_file)  # raises on any missing, unexpected or mis-shaped tensor
    back = export_audio_mae(encoder)
    encoder_keys = {k for k in published if not k.startswith(("decoder_", "mask_token"))}
    assert set(back) == encoder_keys
    for key in encoder_keys - {"cls_token", "pos_embed"}:
        assert torch.equal(back[key], published[key]), key
    # the CLS position is folded into the CLS token; the patch positions are unchanged
    assert torch.equal(back["pos_embed"][:, 1:], published["pos_embed"][:, 1:])
    assert torch.equal(back["cls_token"] + back["pos_embed"][:, :1],
                       published["cls_token"] + published["pos_embed"][:, :1])


def test_audio_mae_output_matches_the_published_computation(mae_file):
    encoder = small_ast().eval()
    load_audio_mae(encoder, mae_file)
    feats = torch.randn(2, FRAMES, MELS)
    with torch.no_grad():
        x, patch_lens = encoder.patch_input(feats, torch.tensor([FRAMES, FRAMES]))
        ours = encoder.encode(*encoder.embed(x, patch_lens))
        ref = timm_vit_forward(timm_vit_state(), feats.unsqueeze(1))  # [B, 1, time, freq]
    time, freq = FRAMES // PATCH, MELS // PATCH
    # ours: token 1 + f * time + t; the published model's: 1 + t * freq + f
    reorder = [0] + [1 + f * time + t for t in range(time) for f in range(freq)]
    torch.testing.assert_close(ours[:, reorder], ref, atol=1e-5, rtol=1e-5)


def test_audio_mae_positions_resized_for_another_grid(mae_file, caplog):
    encoder = small_ast(max_frames=2 * FRAMES)
    with caplog.at_level(logging.INFO):
        load_audio_mae(encoder, mae_file)
    assert encoder.pos_embed.shape[-2:] == (MELS // PATCH, 2 * FRAMES // PATCH)
    assert sum("positional embedding resized" in r.getMessage() for r in caplog.records) == 1


def test_audio_mae_into_the_classifier_and_errors(mae_file, tmp_path):
    model = ASTClassifier(MELS, 5, (PATCH, PATCH), (PATCH, PATCH), D, BLOCKS, HEADS, FFN, 0.0,
                          FRAMES, pretrained=str(mae_file), layer_norm_eps=1e-6, pool="mean")
    assert torch.equal(model.encoder.layers[1].linear2.weight,
                       timm_vit_state()["blocks.1.mlp.fc2.weight"])
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {"x": torch.zeros(1)}}, other)
    assert read_audio_mae(other) is None
    wide = ASTEncoder(MELS, (PATCH, PATCH), (PATCH, PATCH), 2 * D, BLOCKS, HEADS, FFN, 0.0, FRAMES)
    with pytest.raises(ValueError, match="does not fit this AST encoder"):
        load_audio_mae(wide, mae_file)


# ----------------------------------------------------------------------------- BEATs

BEATS_CFG = {"input_patch_size": 16, "embed_dim": 24, "conv_bias": False, "encoder_layers": 2,
             "encoder_embed_dim": 32, "encoder_ffn_embed_dim": 64, "encoder_attention_heads": 4,
             "activation_fn": "gelu", "layer_norm_first": False, "deep_norm": True,
             "conv_pos": 8, "conv_pos_groups": 4, "relative_position_embedding": True,
             "num_buckets": 32, "max_distance": 64, "gru_rel_pos": True,
             "finetuned_model": True, "predictor_class": 5, "encoder_layerdrop": 0.05}
BEATS_KW = {k: v for k, v in BEATS_CFG.items()
            if k not in ("activation_fn", "finetuned_model", "predictor_class", "encoder_layerdrop")}


def beats_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random fine-tuned BEATs state dict in the published layout (the shared relative
    position table repeated under every layer, as the published state dict has it)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=0.2):
        return torch.randn(*shape, generator=g) * scale

    E, C, L, H = 24, 32, 2, 4
    sd = {"patch_embedding.weight": r(E, 1, 16, 16, scale=0.05), "layer_norm.weight": 1 + r(E),
          "layer_norm.bias": r(E), "post_extract_proj.weight": r(C, E),
          "post_extract_proj.bias": r(C), "encoder.pos_conv.0.bias": r(C),
          "encoder.pos_conv.0.weight_g": 1 + r(1, 1, 8), "encoder.pos_conv.0.weight_v": r(C, C // 4, 8),
          "encoder.layer_norm.weight": 1 + r(C), "encoder.layer_norm.bias": r(C),
          "predictor.weight": r(5, C), "predictor.bias": r(5)}
    table = r(32, H, scale=1.0)
    for i in range(L):
        p = f"encoder.layers.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            sd[p + f"self_attn.{name}.weight"], sd[p + f"self_attn.{name}.bias"] = r(C, C), r(C)
        sd[p + "self_attn.relative_attention_bias.weight"] = table
        sd[p + "self_attn.grep_linear.weight"] = r(8, C // H, scale=0.5)
        sd[p + "self_attn.grep_linear.bias"] = r(8)
        sd[p + "self_attn.grep_a"] = 1 + r(1, H, 1, 1)
        for name, shape in (("fc1", (64, C)), ("fc2", (C, 64))):
            sd[p + f"{name}.weight"], sd[p + f"{name}.bias"] = r(*shape), r(shape[0])
        for name in ("self_attn_layer_norm", "final_layer_norm"):
            sd[p + f"{name}.weight"], sd[p + f"{name}.bias"] = 1 + r(C), r(C)
    return sd


@pytest.fixture
def beats_file(tmp_path):
    path = tmp_path / "BEATs_iter3_plus_AS2M.pt"
    torch.save({"cfg": BEATS_CFG, "model": beats_state()}, path)
    return path


def test_beats_buckets_by_hand():
    # 320 buckets, 800 max: 160 per direction (positive keys after the first 160), exact
    # below 80, then 80 + int(log(d / 80) / log(800 / 80) * 80), at most 159
    rel = torch.tensor([0, -5, 5, -100, 100, 10000, -10000])
    expected = [0, 5, 165, 87, 247, 319, 159]
    assert relative_position_bucket(rel, 320, 800).tolist() == expected


def test_beats_loads_and_round_trips(beats_file):
    model = BEATs(**BEATS_KW, pretrained=str(beats_file))  # raises on missing/unexpected keys
    published = beats_state()
    back = export_beats(model)
    assert set(back) == set(published) - {"predictor.weight", "predictor.bias"}
    for key, value in back.items():
        assert torch.equal(value, published[key]), key


def beats_reference(sd: dict, fbank: torch.Tensor) -> list[torch.Tensor]:
    """The published computation written out by hand (fairseq layout [L, B, C], q scaled and
    divided by 32, the max subtracted and multiplied back), from the raw published tensors."""
    C, H, hd, alpha = 32, 4, 8, 2 ** 0.25 * 2 ** 0.25  # deep norm: (2 * 2 layers) ** 0.25
    x = F.conv2d(fbank.unsqueeze(1), sd["patch_embedding.weight"], stride=16)
    x = x.reshape(x.shape[0], x.shape[1], -1).transpose(1, 2)
    x = F.layer_norm(x, (24,), sd["layer_norm.weight"], sd["layer_norm.bias"])
    x = F.linear(x, sd["post_extract_proj.weight"], sd["post_extract_proj.bias"])
    w = torch._weight_norm(sd["encoder.pos_conv.0.weight_v"], sd["encoder.pos_conv.0.weight_g"], 2)
    conv = F.conv1d(x.transpose(1, 2), w, sd["encoder.pos_conv.0.bias"], padding=4, groups=4)
    x = x + F.gelu(conv[:, :, :-1]).transpose(1, 2)
    x = F.layer_norm(x, (C,), sd["encoder.layer_norm.weight"], sd["encoder.layer_norm.bias"])
    hidden = [x]
    B, L = x.shape[:2]
    pos = torch.arange(L)
    buckets = torch.tensor([[bucket(int(k - q)) for k in pos] for q in pos])
    bias = sd["encoder.layers.0.self_attn.relative_attention_bias.weight"][buckets]  # [L, L, H]
    bias = bias.permute(2, 0, 1).unsqueeze(0).repeat(B, 1, 1, 1).view(B * H, L, L)
    h = x.transpose(0, 1)  # [L, B, C]
    for i in range(2):
        p = f"encoder.layers.{i}."

        def lin(t, name, p=p):
            return F.linear(t, sd[p + name + ".weight"], sd[p + name + ".bias"])

        q = lin(h, "self_attn.q_proj") * hd ** -0.5 / 32
        k, v = lin(h, "self_attn.k_proj"), lin(h, "self_attn.v_proj")
        q, k, v = (t.contiguous().view(L, B * H, hd).transpose(0, 1) for t in (q, k, v))
        att = torch.bmm(q, k.transpose(1, 2))
        att = (att - att.max(dim=-1, keepdim=True)[0]) * 32
        query = q.view(B, H, L, hd) * 32 / hd ** -0.5
        gates = torch.sigmoid(F.linear(query, sd[p + "self_attn.grep_linear.weight"],
                                       sd[p + "self_attn.grep_linear.bias"]).view(B, H, L, 2, 4).sum(-1))
        ga, gb = gates.chunk(2, dim=-1)
        gate = ga * (gb * sd[p + "self_attn.grep_a"] - 1.0) + 2.0
        att = att + gate.view(B * H, L, 1) * bias
        a = torch.bmm(att.softmax(-1), v).transpose(0, 1).contiguous().view(L, B, C)
        h = F.layer_norm(h * alpha + lin(a, "self_attn.out_proj"), (C,),
                         sd[p + "self_attn_layer_norm.weight"], sd[p + "self_attn_layer_norm.bias"])
        f = lin(F.gelu(lin(h, "fc1")), "fc2")
        h = F.layer_norm(h * alpha + f, (C,), sd[p + "final_layer_norm.weight"],
                         sd[p + "final_layer_norm.bias"])
        hidden.append(h.transpose(0, 1))
    return hidden


def bucket(rel: int) -> int:
    """relative_position_bucket for 32 buckets / max 64, one scalar at a time."""
    half, exact = 16, 8
    out = half if rel > 0 else 0
    d = abs(rel)
    if d < exact:
        return out + d
    return out + min(half - 1, exact + int(math.log(d / exact) / math.log(64 / exact) * (half - exact)))


def test_beats_output_matches_the_published_computation(beats_file):
    from torchaudio.compliance import kaldi

    model = BEATs(**BEATS_KW, pretrained=str(beats_file)).eval()
    wav = torch.randn(1, 16000 * 3 // 4) * 0.1  # 73 frames -> 4 time x 8 freq patches
    with torch.no_grad():
        hidden, token_lens = model(wav, torch.tensor([wav.shape[1]]))
        fbank = kaldi.fbank(wav * 2 ** 15, num_mel_bins=128, sample_frequency=16000,
                            frame_length=25, frame_shift=10)
        fbank = ((fbank - 15.41663) / (2 * 6.55582))[:64].unsqueeze(0)
        ref = beats_reference(beats_state(), fbank)
    assert token_lens.tolist() == [32] and len(hidden) == 3
    for ours, theirs in zip(hidden, ref, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def test_beats_batch_padding_changes_nothing_and_cfg_is_checked(beats_file):
    model = BEATs(**BEATS_KW, pretrained=str(beats_file)).eval()
    wav = torch.randn(2, 12000) * 0.1
    lens = torch.tensor([12000, 6000])
    with torch.no_grad():
        hidden, token_lens = model(wav, lens)
        alone, alone_lens = model(wav[1:, :6000], lens[1:])
        frames, frame_lens = model.to_frames(hidden[-1], token_lens)
    n = int(alone_lens[0])
    assert token_lens.tolist() == [32, n] and n == 16
    torch.testing.assert_close(hidden[-1][1, :n], alone[-1][0], atol=1e-5, rtol=1e-5)
    assert frames.shape == (2, 4, 32) and frame_lens.tolist() == [4, 2]
    torch.testing.assert_close(frames[1, :2], alone[-1][0].view(2, 8, 32).mean(1))
    with pytest.raises(ValueError, match="max_distance: config 800 vs file 64"):
        BEATs(**{**BEATS_KW, "max_distance": 800}, pretrained=str(beats_file))
