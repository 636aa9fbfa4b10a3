"""Wav2Vec2Encoder: tiny torchaudio models, and weight import from synthetic fairseq and
Hugging Face checkpoints whose parameter names are written out here from the two projects'
module layouts (fairseq wav2vec2.py / hubert.py, transformers modeling_wav2vec2.py)."""

from __future__ import annotations

import argparse
import json
import sys
import types

import pytest
import torch

from audiokit.models.asr.wav2vec2 import (
    Wav2Vec2Encoder,
    _parse_conv_layers,
    arch_of,
    mask_channels,
    matching_factories,
)

CONV = [(8, 10, 5), (8, 3, 2), (8, 2, 2)]  # receptive field 30 samples, hop 20
D, FF, HEADS, LAYERS, POS_K, POS_G = 16, 32, 2, 2, 4, 2

TINY_W2V = dict(extractor_mode="group_norm", extractor_conv_layer_config=CONV,
                extractor_conv_bias=False, encoder_embed_dim=D, encoder_pos_conv_kernel=POS_K,
                encoder_pos_conv_groups=POS_G, encoder_num_layers=LAYERS, encoder_num_heads=HEADS,
                encoder_ff_interm_features=FF, encoder_layer_norm_first=False)
# HuBERT-large style: layer-norm feature extractor with conv bias, pre-norm transformer.
TINY_HUBERT = {**TINY_W2V, "extractor_mode": "layer_norm", "extractor_conv_bias": True,
               "encoder_layer_norm_first": True}


def out_len(n: int) -> int:
    for _, k, s in CONV:
        n = max((n - k) // s + 1, 0)
    return n


def fairseq_names(arch: dict) -> list[tuple[str, str, tuple]]:
    """(fairseq name, torchaudio name, shape) for every encoder parameter."""
    rows, c_in = [], 1
    for i, (c, k, _) in enumerate(arch["extractor_conv_layer_config"]):
        fe, ta = f"feature_extractor.conv_layers.{i}", f"feature_extractor.conv_layers.{i}"
        rows.append((f"{fe}.0.weight", f"{ta}.conv.weight", (c, c_in, k)))
        if arch["extractor_conv_bias"]:
            rows.append((f"{fe}.0.bias", f"{ta}.conv.bias", (c,)))
        # Sequential(conv, dropout, Fp32GroupNorm, GELU) / (conv, dropout, (T, LayerNorm, T), GELU)
        norm = (f"{fe}.2" if i == 0 else None) if arch["extractor_mode"] == "group_norm" else f"{fe}.2.1"
        if norm:
            rows += [(f"{norm}.{p}", f"{ta}.layer_norm.{p}", (c,)) for p in ("weight", "bias")]
        c_in = c
    rows += [(f"layer_norm.{p}", f"encoder.feature_projection.layer_norm.{p}", (c_in,))
             for p in ("weight", "bias")]
    rows += [("post_extract_proj.weight", "encoder.feature_projection.projection.weight", (D, c_in)),
             ("post_extract_proj.bias", "encoder.feature_projection.projection.bias", (D,))]
    pos = "encoder.transformer.pos_conv_embed.conv"
    rows += [("encoder.pos_conv.0.weight_g", f"{pos}.parametrizations.weight.original0", (1, 1, POS_K)),
             ("encoder.pos_conv.0.weight_v", f"{pos}.parametrizations.weight.original1", (D, D // POS_G, POS_K)),
             ("encoder.pos_conv.0.bias", f"{pos}.bias", (D,))]
    rows += [(f"encoder.layer_norm.{p}", f"encoder.transformer.layer_norm.{p}", (D,)) for p in ("weight", "bias")]
    for i in range(LAYERS):
        fs, ta = f"encoder.layers.{i}", f"encoder.transformer.layers.{i}"
        for p in ("weight", "bias"):
            for x in ("q", "k", "v", "out"):
                rows.append((f"{fs}.self_attn.{x}_proj.{p}", f"{ta}.attention.{x}_proj.{p}",
                             (D, D) if p == "weight" else (D,)))
            rows.append((f"{fs}.self_attn_layer_norm.{p}", f"{ta}.layer_norm.{p}", (D,)))
            rows.append((f"{fs}.fc1.{p}", f"{ta}.feed_forward.intermediate_dense.{p}", (FF, D) if p == "weight" else (FF,)))
            rows.append((f"{fs}.fc2.{p}", f"{ta}.feed_forward.output_dense.{p}", (D, FF) if p == "weight" else (D,)))
            rows.append((f"{fs}.final_layer_norm.{p}", f"{ta}.final_layer_norm.{p}", (D,)))
    return rows


def hf_names(arch: dict, prefix: str, new_weight_norm: bool = False) -> list[tuple[str, str, tuple]]:
    """(transformers name, torchaudio name, shape): torchaudio kept transformers' module names
    inside the feature extractor and the layers; only the containers differ."""
    rows = []
    for _, ta, shape in fairseq_names(arch):
        name = ta.replace("encoder.feature_projection.", "feature_projection.")
        name = name.replace("encoder.transformer.", "encoder.")
        if not new_weight_norm:  # torch.nn.utils.weight_norm (older transformers)
            name = name.replace("parametrizations.weight.original0", "weight_g")
            name = name.replace("parametrizations.weight.original1", "weight_v")
        rows.append((prefix + name, ta, shape))
    return rows


def hf_config(arch: dict, model_type: str) -> dict:
    conv_dim, conv_kernel, conv_stride = (list(x) for x in zip(*arch["extractor_conv_layer_config"], strict=True))
    return {"model_type": model_type, "architectures": ["Wav2Vec2ForCTC"],
            "feat_extract_norm": arch["extractor_mode"].split("_")[0], "conv_dim": conv_dim,
            "conv_kernel": conv_kernel, "conv_stride": conv_stride,
            "conv_bias": arch["extractor_conv_bias"], "hidden_size": D,
            "num_conv_pos_embeddings": POS_K, "num_conv_pos_embedding_groups": POS_G,
            "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "intermediate_size": FF,
            "do_stable_layer_norm": arch["encoder_layer_norm_first"], "hidden_act": "gelu",
            "feat_extract_activation": "gelu", "vocab_size": 5}


def random_weights(rows) -> dict[str, torch.Tensor]:
    return {name: torch.randn(shape) for name, _, shape in rows}


def assert_imported(enc: Wav2Vec2Encoder, rows, weights) -> None:
    state = enc.model.state_dict()
    assert set(state) == {ta for _, ta, _ in rows}  # every parameter came from the file
    for src, ta, _ in rows:
        assert torch.equal(state[ta], weights[src]), (src, ta)


def check_forward(enc: Wav2Vec2Encoder) -> None:
    torch.manual_seed(0)
    lens = torch.tensor([400, 257, 31])
    feats = torch.randn(3, 400, 1) * (torch.arange(400) < lens[:, None]).unsqueeze(-1)
    enc.eval()
    h, h_lens = enc(feats, lens)
    assert h.shape == (3, out_len(400), D) and h_lens.tolist() == [out_len(int(n)) for n in lens]
    assert torch.isfinite(h).all()
    assert (h[1, h_lens[1]:] == 0).all() and (h[2, h_lens[2]:] == 0).all()
    # Same numbers as torchaudio's own forward: the longest utterance alone, and the batch
    # with lengths (torchaudio's WavLM cannot take lengths).
    torch.testing.assert_close(h[:1], enc.model(feats[:1].squeeze(-1))[0])
    if arch_of(enc.model)["extractor_mode"] == "layer_norm":
        # No norm over time before the transformer: padding must not change any output.
        for b in range(1, 3):
            alone, _ = enc(feats[b:b + 1, : lens[b]], lens[b:b + 1])
            torch.testing.assert_close(h[b:b + 1, : h_lens[b]], alone)
    if "encoder_num_buckets" not in arch_of(enc.model):
        ref, ref_lens = enc.model(feats.squeeze(-1), lens)
        assert torch.equal(ref_lens, h_lens)
        for b in range(3):
            torch.testing.assert_close(h[b, : h_lens[b]], ref[b, : h_lens[b]])


def test_tiny_models_forward_and_lengths():
    for arch in (TINY_W2V, TINY_HUBERT):
        enc = Wav2Vec2Encoder(input_dim=1, arch=arch, sample_rate=16000)
        assert enc.output_dim == D and arch_of(enc.model) == arch
        check_forward(enc)
    # The receptive field gives exactly one frame; one sample fewer gives none.
    assert enc.min_input_frames == 30 == out_len(30) * 30 and out_len(29) == 0
    _, h_lens = enc(torch.randn(2, 30, 1), torch.tensor([30, 29]))
    assert h_lens.tolist() == [1, 0]


def test_frozen_feature_encoder_gets_no_gradient():
    enc = Wav2Vec2Encoder(arch=TINY_W2V).train()
    assert enc.training and not enc.model.feature_extractor.training
    h, _ = enc(torch.randn(2, 200, 1), torch.tensor([200, 150]))
    h.square().sum().backward()
    assert all(p.grad is None and not p.requires_grad for p in enc.model.feature_extractor.parameters())
    grads = [p.grad for p in enc.model.encoder.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)

    enc = Wav2Vec2Encoder(arch=TINY_W2V, freeze_feature_encoder=False).train()
    assert enc.model.feature_extractor.training
    h, _ = enc(torch.randn(2, 200, 1), torch.tensor([200, 150]))
    h.sum().backward()
    assert all(p.grad is not None for p in enc.model.feature_extractor.parameters())


def test_dropout_overrides_and_masking():
    enc = Wav2Vec2Encoder(arch=TINY_W2V, layer_drop=0.3, dropout=0.2, mask_time_prob=0.5,
                          mask_time_length=2, mask_channel_prob=0.2, mask_channel_length=2)
    transformer = enc.model.encoder.transformer
    assert transformer.layer_drop == 0.3 and transformer.dropout.p == 0.2
    # Masking happens in training only, and replaces whole frames by the mask embedding.
    enc.model.encoder.transformer.layer_drop = 0.0
    x = torch.randn(2, 400, 1)
    lens = torch.tensor([400, 400])
    enc.eval()
    h_eval, _ = enc(x, lens)
    torch.testing.assert_close(enc(x, lens)[0], h_eval)
    enc.train()
    for m in enc.modules():  # no dropout, so only the mask changes the output
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    assert not torch.allclose(enc(x, lens)[0], h_eval)


def test_channel_masking_zeroes_whole_channel_spans():
    torch.manual_seed(0)
    x = torch.randn(64, 5, 40) + 10.0
    y = mask_channels(x, prob=0.5, length=4)
    dropped = (y == 0).all(1)  # [B, C]: channels zeroed in every frame
    assert ((y == 0) | (y == x)).all() and torch.equal((y == 0).any(1), dropped)
    assert 0.25 < dropped.float().mean() < 0.5  # 5 spans of 4 of 40 channels, overlaps allowed
    for _ in range(20):  # usually rounds to 0 spans (where torchaudio's MaskGenerator fails)
        mask_channels(x, prob=0.01, length=64)
    assert torch.equal(mask_channels(x, prob=0.0, length=4), x)


def save_fairseq(path, weights, model_cfg, task_cfg, fine_tuned: bool, legacy: bool,
                 monkeypatch) -> None:
    """A checkpoint laid out as fairseq writes it, including a fairseq object in extra_state."""
    if fine_tuned:
        weights = {f"w2v_encoder.w2v_model.{k}": v for k, v in weights.items()}
        weights["w2v_encoder.proj.weight"] = torch.randn(5, D)
    meters = types.ModuleType("fairseq.logging.meters")
    meter_cls = type("AverageMeter", (), {"__module__": "fairseq.logging.meters"})
    meters.AverageMeter = meter_cls
    meter = meter_cls()
    meter.val = 3.0
    if legacy:  # argparse era: one flat Namespace
        args = argparse.Namespace(**model_cfg, **task_cfg)
        if fine_tuned:
            args = argparse.Namespace(arch="wav2vec_ctc", w2v_args=args, dropout=0.0)
        ckpt = {"args": args, "model": weights}
    else:
        cfg = {"model": model_cfg, "task": task_cfg}
        if fine_tuned:
            cfg = {"model": {"_name": "wav2vec_ctc", "w2v_path": "/x.pt", "w2v_args": cfg},
                   "task": {"normalize": None}}
        ckpt = {"args": None, "cfg": cfg, "model": weights}
    ckpt["extra_state"] = {"metrics": {"loss": meter}}
    with monkeypatch.context() as m:  # fairseq exists only while saving
        for name in ("fairseq", "fairseq.logging"):
            m.setitem(sys.modules, name, types.ModuleType(name))
        m.setitem(sys.modules, "fairseq.logging.meters", meters)
        torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy)


@pytest.mark.parametrize("kind,fine_tuned,legacy", [
    ("wav2vec2", False, False), ("wav2vec2", True, True), ("hubert", True, False),
    ("hubert", False, True)])
def test_fairseq_import(tmp_path, monkeypatch, kind, fine_tuned, legacy):
    arch = TINY_W2V if kind == "wav2vec2" else TINY_HUBERT
    rows = fairseq_names(arch)
    weights = random_weights(rows)
    extras = {"mask_emb": torch.randn(D), "final_proj.weight": torch.randn(4, D)}
    extras.update({"quantizer.vars": torch.randn(1, 4, 8), "project_q.weight": torch.randn(4, 8)}
                  if kind == "wav2vec2" else {"label_embs_concat": torch.randn(6, 4)})
    conv = "[(8, 10, 5)] + [(8, 3, 2)] * 1 + [(8, 2, 2)]"
    model_cfg = {"_name": kind, "extractor_mode": "default" if kind == "wav2vec2" else "layer_norm",
                 "conv_feature_layers": conv, "conv_bias": arch["extractor_conv_bias"],
                 "encoder_embed_dim": D, "conv_pos": POS_K, "conv_pos_groups": POS_G,
                 "encoder_layers": LAYERS, "encoder_attention_heads": HEADS,
                 "encoder_ffn_embed_dim": FF, "layer_norm_first": arch["encoder_layer_norm_first"]}
    path = tmp_path / "checkpoint.pt"
    save_fairseq(path, {**weights, **extras}, model_cfg, {"normalize": kind == "hubert"},
                 fine_tuned, legacy, monkeypatch)

    enc = Wav2Vec2Encoder(arch=arch, pretrained=str(path), mask_time_prob=0.1)
    assert_imported(enc, rows, weights)
    assert torch.equal(enc.mask.mask_embedding, extras["mask_emb"])
    assert enc.pretrained_normalize is (kind == "hubert")
    check_forward(enc)


@pytest.mark.parametrize("kind,arch,new_weight_norm", [
    ("wav2vec2", TINY_W2V, False), ("hubert", TINY_HUBERT, True)])
def test_huggingface_import(tmp_path, kind, arch, new_weight_norm):
    rows = hf_names(arch, f"{kind}.", new_weight_norm)
    weights = random_weights(rows)
    extras = {f"{kind}.masked_spec_embed": torch.randn(D), "lm_head.weight": torch.randn(5, D),
              "lm_head.bias": torch.randn(5)}
    (tmp_path / "config.json").write_text(json.dumps(hf_config(arch, kind)))
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"do_normalize": True}))
    torch.save({**weights, **extras}, tmp_path / "pytorch_model.bin")

    for pretrained in (tmp_path, tmp_path / "pytorch_model.bin"):
        enc = Wav2Vec2Encoder(arch=arch, pretrained=pretrained, mask_time_prob=0.1)
        assert_imported(enc, rows, weights)
        assert torch.equal(enc.mask.mask_embedding, extras[f"{kind}.masked_spec_embed"])
        assert enc.pretrained_normalize is True
    check_forward(enc)


def test_huggingface_wavlm_fuses_qkv(tmp_path):
    arch = {**TINY_HUBERT, "encoder_num_buckets": 8, "encoder_max_distance": 16}
    rows = hf_names(arch, "wavlm.")
    weights = random_weights(rows)
    for i in range(LAYERS):
        p = f"wavlm.encoder.layers.{i}.attention."
        weights[p + "gru_rel_pos_const"] = torch.randn(1, HEADS, 1, 1)
        weights[p + "gru_rel_pos_linear.weight"] = torch.randn(8, D // HEADS)
        weights[p + "gru_rel_pos_linear.bias"] = torch.randn(8)
    weights["wavlm.encoder.layers.0.attention.rel_attn_embed.weight"] = torch.randn(8, HEADS)
    config = {**hf_config(arch, "wavlm"), "num_buckets": 8, "max_bucket_distance": 16}
    (tmp_path / "config.json").write_text(json.dumps(config))
    torch.save(weights, tmp_path / "pytorch_model.bin")

    enc = Wav2Vec2Encoder(arch=arch, pretrained=tmp_path)
    state = enc.model.state_dict()
    for i in range(LAYERS):
        hf, ta = f"wavlm.encoder.layers.{i}.attention.", f"encoder.transformer.layers.{i}.attention."
        for p in ("weight", "bias"):
            fused = state[ta + f"attention.in_proj_{p}"]
            for j, x in enumerate("qkv"):
                assert torch.equal(fused[j * D:(j + 1) * D], weights[hf + f"{x}_proj.{p}"])
            assert torch.equal(state[ta + f"attention.out_proj.{p}"], weights[hf + f"out_proj.{p}"])
        assert torch.equal(state[ta + "gru_rel_pos_linear.weight"], weights[hf + "gru_rel_pos_linear.weight"])
    assert torch.equal(state["encoder.transformer.layers.0.attention.rel_attn_embed.weight"],
                       weights["wavlm.encoder.layers.0.attention.rel_attn_embed.weight"])
    check_forward(enc)
    # LayerDrop never drops the layer that makes the position bias (and so the padding mask).
    enc.model.encoder.transformer.layer_drop = 0.5
    enc.train()  # no dropout or masking here: only LayerDrop is random
    x = torch.randn(2, 400, 1)
    for seed in range(20):
        torch.manual_seed(seed)
        h, h_lens = enc(x, torch.tensor([400, 200]))
        torch.manual_seed(seed)  # the same layers dropped
        alone, _ = enc(x[1:, :200], torch.tensor([200]))
        torch.testing.assert_close(h[1:, : h_lens[1]], alone)  # padding stayed masked


def test_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="input_dim=80"):
        Wav2Vec2Encoder(input_dim=80, arch=TINY_W2V)
    with pytest.raises(ValueError, match="data.sample_rate=16000"):
        Wav2Vec2Encoder(arch=TINY_W2V, sample_rate=8000)
    with pytest.raises(ValueError, match="unknown wav2vec2 arch 'wav2vec3'"):
        Wav2Vec2Encoder(arch="wav2vec3")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        Wav2Vec2Encoder(arch=TINY_W2V, pretrained=tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="pytorch_model.bin"):  # HF dir without weights
        (tmp_path / "config.json").write_text(json.dumps(hf_config(TINY_W2V, "wav2vec2")))
        Wav2Vec2Encoder(arch=TINY_W2V, pretrained=tmp_path)
    # Checkpoint architecture differs from the configured one: both values are named.
    torch.save(random_weights(hf_names(TINY_W2V, "wav2vec2.")), tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match=r"encoder_num_heads: arch 4 vs checkpoint 2"):
        Wav2Vec2Encoder(arch={**TINY_W2V, "encoder_num_heads": 4}, pretrained=tmp_path)
    # A parameter name no rule knows.
    torch.save({**random_weights(hf_names(TINY_W2V, "wav2vec2.")),
                "wav2vec2.adapter.proj.weight": torch.randn(2, 2)}, tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="wav2vec2.adapter.proj.weight"):
        Wav2Vec2Encoder(arch=TINY_W2V, pretrained=tmp_path)
    with pytest.raises(ValueError, match="raw waveforms"):
        Wav2Vec2Encoder(arch=TINY_W2V)(torch.randn(2, 100, 80), torch.tensor([100, 100]))


def test_conv_layer_parser_and_factory_matching():
    assert _parse_conv_layers("[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]") == \
        [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2
    with pytest.raises(ValueError, match="unsupported"):
        _parse_conv_layers("__import__('os').system('true')")
    with torch.device("meta"):
        from torchaudio.models import hubert_large
        assert "hubert_large" in matching_factories(arch_of(hubert_large()))
    assert matching_factories(TINY_W2V) == []
