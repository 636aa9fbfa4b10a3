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
