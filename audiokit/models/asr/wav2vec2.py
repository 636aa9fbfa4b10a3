"""wav2vec 2.0 / HuBERT / WavLM encoders (``torchaudio.models``) for CTC fine-tuning.

Pre-trained weights come from a fairseq checkpoint (``.pt``) or a Hugging Face model dir
(``config.json`` + ``pytorch_model.bin`` or ``model.safetensors``). torchaudio's own importers
(``import_fairseq_model``, ``import_huggingface_model``) take live fairseq / transformers
model objects, so they would need those packages; instead this module reads the raw state
dict and config and renames the parameters itself. The name tables below follow torchaudio's
``models/wav2vec2/utils/import_fairseq.py`` and ``import_huggingface.py``.

fairseq checkpoints are pickles that may name fairseq classes (meters, configs). They are read
with ``torch.load(weights_only=True)``; every class the loader does not allow is replaced by an
inert stand-in that only records its arguments, so a checkpoint cannot run code and fairseq
need not be installed.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import json
import logging
import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torchaudio.models
from torch import Tensor, nn
from torchaudio.models import Wav2Vec2Model, wav2vec2_model, wavlm_model
from torchaudio.models.wav2vec2.components import MaskGenerator
from torchaudio.models.wav2vec2.wavlm_attention import WavLMSelfAttention

from audiokit.utils.masking import lengths_to_mask

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # every released wav2vec 2.0 / HuBERT / WavLM model is trained on 16 kHz audio

FACTORIES = ("wav2vec2_base", "wav2vec2_large", "wav2vec2_large_lv60k", "wav2vec2_xlsr_300m",
             "wav2vec2_xlsr_1b", "wav2vec2_xlsr_2b", "hubert_base", "hubert_large",
             "hubert_xlarge", "wavlm_base", "wavlm_large")

# Our config names -> torchaudio factory kwargs.
_DROPOUTS = {"layer_drop": "encoder_layer_drop", "dropout": "encoder_dropout",
             "attention_dropout": "encoder_attention_dropout",
             "activation_dropout": "encoder_ff_interm_dropout",
             "projection_dropout": "encoder_projection_dropout"}

_POS_CONV = "encoder.transformer.pos_conv_embed.conv."
_POS_G = _POS_CONV + "parametrizations.weight.original0"  # weight norm: g
_POS_V = _POS_CONV + "parametrizations.weight.original1"  # weight norm: v
_LAYERS = "encoder.transformer.layers"

# fairseq name (after stripping w2v_encoder./w2v_model.) -> torchaudio name.
_FAIRSEQ_RULES = [
    (r"feature_extractor\.conv_layers\.(\d+)\.0\.(weight|bias)",
     r"feature_extractor.conv_layers.\1.conv.\2"),
    (r"feature_extractor\.conv_layers\.0\.2\.(weight|bias)",  # group norm (first layer only)
     r"feature_extractor.conv_layers.0.layer_norm.\1"),
    (r"feature_extractor\.conv_layers\.(\d+)\.2\.1\.(weight|bias)",  # layer norm (every layer)
     r"feature_extractor.conv_layers.\1.layer_norm.\2"),
    (r"layer_norm\.(weight|bias)", r"encoder.feature_projection.layer_norm.\1"),
    (r"post_extract_proj\.(weight|bias)", r"encoder.feature_projection.projection.\1"),
    (r"encoder\.pos_conv\.0\.bias", _POS_CONV + "bias"),
    (r"encoder\.pos_conv\.0\.(?:weight_g|parametrizations\.weight\.original0)", _POS_G),
    (r"encoder\.pos_conv\.0\.(?:weight_v|parametrizations\.weight\.original1)", _POS_V),
    (r"encoder\.layer_norm\.(weight|bias)", r"encoder.transformer.layer_norm.\1"),
    (r"encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.(weight|bias)",
     _LAYERS + r".\1.attention.\2_proj.\3"),
    (r"encoder\.layers\.(\d+)\.self_attn_layer_norm\.(weight|bias)", _LAYERS + r".\1.layer_norm.\2"),
    (r"encoder\.layers\.(\d+)\.fc1\.(weight|bias)", _LAYERS + r".\1.feed_forward.intermediate_dense.\2"),
    (r"encoder\.layers\.(\d+)\.fc2\.(weight|bias)", _LAYERS + r".\1.feed_forward.output_dense.\2"),
    (r"encoder\.layers\.(\d+)\.final_layer_norm\.(weight|bias)", _LAYERS + r".\1.final_layer_norm.\2"),
]
# Pre-training heads, and the fine-tuned CTC layer over fairseq's own dictionary.
_FAIRSEQ_DROP = r"(quantizer|project_q|final_proj|target_glu)\..*|label_embs_concat|proj\.(weight|bias)"
_FAIRSEQ_CONV_DEFAULT = "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2"

# Hugging Face name (after stripping wav2vec2./hubert./wavlm.) -> torchaudio name.
_HF_RULES = [
    (r"feature_extractor\.conv_layers\.(\d+)\.(conv|layer_norm)\.(weight|bias)",
     r"feature_extractor.conv_layers.\1.\2.\3"),
    (r"feature_projection\.(layer_norm|projection)\.(weight|bias)", r"encoder.feature_projection.\1.\2"),
    (r"encoder\.pos_conv_embed\.conv\.bias", _POS_CONV + "bias"),
    (r"encoder\.pos_conv_embed\.conv\.(?:weight_g|parametrizations\.weight\.original0)", _POS_G),
    (r"encoder\.pos_conv_embed\.conv\.(?:weight_v|parametrizations\.weight\.original1)", _POS_V),
    (r"encoder\.layer_norm\.(weight|bias)", r"encoder.transformer.layer_norm.\1"),
    # Layer internals share torchaudio's names (attention.{q,k,v,out}_proj, layer_norm,
    # feed_forward.*, final_layer_norm; WavLM's gru_rel_pos_*, rel_attn_embed).
    (r"encoder\.layers\.(\d+)\.(.+)", _LAYERS + r".\1.\2"),
]
_HF_DROP = r"(lm_head|quantizer|project_q|project_hid)\..*"
_HF_KINDS = ("wav2vec2", "hubert", "wavlm")


@dataclass
class Pretrained:
    """A checkpoint read into torchaudio's terms."""

    arch: dict[str, Any]          # shape-determining wav2vec2_model / wavlm_model kwargs
    state: dict[str, Tensor]      # torchaudio parameter name -> tensor
    source: dict[str, str]        # torchaudio name -> name in the file (for error messages)
    mask_embedding: Tensor | None = None
    normalize: bool | None = None  # whether pre-training normalised each waveform
    dropped: list[str] = field(default_factory=list)


class Wav2Vec2Encoder(nn.Module):
    """feats [B, T, 1] (raw 16 kHz waveform) -> (h [B, T', D], h_lens), T' ~ T / 320.

    Args:
        input_dim: feature size from the frontend; must be 1 (``frontend=raw``).
        arch: a torchaudio factory name (see ``FACTORIES``) or a dict of
            ``torchaudio.models.wav2vec2_model`` kwargs (``wavlm_model`` when it has
            ``encoder_num_buckets``); dropout kwargs left out of the dict default to 0.
        pretrained: fairseq checkpoint (``.pt``) or Hugging Face model dir (or its weights
            file). Its architecture must equal ``arch`` (the error names a matching factory),
            so the same config rebuilds the network without the file at inference time.
        freeze_feature_encoder: keep the convolutional feature encoder fixed (no gradients,
            eval mode), as wav2vec 2.0 fine-tuning does.
        layer_drop, dropout, attention_dropout, activation_dropout, projection_dropout:
            override the arch's rates (None keeps them). Checkpoint rates are not used.
        mask_time_prob, mask_time_length: wav2vec 2.0 time masking of the transformer input
            in training (torchaudio's ``MaskGenerator``): masked frames get a learned mask
            embedding, imported from the checkpoint when it has one.
        mask_channel_prob, mask_channel_length: zero spans of channels in training.
        sample_rate: the data's sample rate, checked against ``model_sample_rate`` when given.
        model_sample_rate: the rate the encoder was pre-trained at: 16 kHz for every released
            model; an audiokit HuBERT pretraining (``ssl/fsdd_hubert_iter*``) says its own.

    Base-size models normalise their first conv layer over time (group norm), so batch
    padding slightly changes their output, as in fairseq; length-bucketed batches keep the
    padding small.
    """

    def __init__(
        self,
        input_dim: int = 1,
        arch: str | Mapping[str, Any] = "wav2vec2_base",
        pretrained: str | Path | None = None,
        freeze_feature_encoder: bool = True,
        layer_drop: float | None = None,
        dropout: float | None = None,
        attention_dropout: float | None = None,
        activation_dropout: float | None = None,
        projection_dropout: float | None = None,
        mask_time_prob: float = 0.0,
        mask_time_length: int = 10,
        mask_channel_prob: float = 0.0,
        mask_channel_length: int = 64,
        sample_rate: int | None = None,
        model_sample_rate: int = SAMPLE_RATE,
    ) -> None:
        super().__init__()
        if input_dim != 1:
            raise ValueError(f"Wav2Vec2Encoder reads raw waveforms (frontend=raw, input_dim 1), "
                             f"got input_dim={input_dim}")
        if sample_rate is not None and sample_rate != model_sample_rate:
            raise ValueError(f"this wav2vec 2.0 / HuBERT model expects {model_sample_rate} Hz "
                             f"audio, got sample_rate={sample_rate}: set "
                             f"data.sample_rate={model_sample_rate}")
        self.model_sample_rate = model_sample_rate
        rates = {"layer_drop": layer_drop, "dropout": dropout,
                 "attention_dropout": attention_dropout,
                 "activation_dropout": activation_dropout,
                 "projection_dropout": projection_dropout}
        overrides = {_DROPOUTS[k]: float(v) for k, v in rates.items() if v is not None}
        self.model = build_model(arch, overrides)
        self.output_dim = self.model.encoder.feature_projection.projection.out_features
        self.mask = None  # time masking, with a learned embedding
        if mask_time_prob > 0:
            self.mask = MaskGenerator(self.output_dim, mask_time_prob, "static", 0.0,
                                      mask_time_length, False, 1, 0.0, "static", 0.0, 0, False, 0)
        self.mask_channel_prob, self.mask_channel_length = mask_channel_prob, mask_channel_length

        self.pretrained_normalize: bool | None = None
        if pretrained is not None:
            self._load(Path(pretrained), arch)

        self.freeze_feature_encoder = freeze_feature_encoder
        if freeze_feature_encoder:
            self.model.feature_extractor.requires_grad_(False)
            self.model.feature_extractor.eval()

    def train(self, mode: bool = True) -> Wav2Vec2Encoder:
        super().train(mode)
        if self.freeze_feature_encoder:  # a frozen feature encoder stays in eval mode
            self.model.feature_extractor.eval()
        return self

    @property
    def min_input_frames(self) -> int:
        """Fewest samples that give one output frame (the conv stack's receptive field)."""
        frames = 1
        for block in reversed(self.model.feature_extractor.conv_layers):
            frames = (frames - 1) * block.stride + block.kernel_size
        return frames

    def forward(self, feats: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        if feats.dim() != 3 or feats.size(-1) != 1:
            raise ValueError(f"Wav2Vec2Encoder expects raw waveforms [B, T, 1], got {list(feats.shape)}")
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_feature_encoder):
            x, h_lens = self.model.feature_extractor(feats.squeeze(-1), lens)
        # Same steps as torchaudio's Encoder.forward, with masking between projection and
        # transformer (as torchaudio's HuBERTPretrainModel does).
        x, attention_mask = self.model.encoder._preprocess(x, h_lens)
        valid = lengths_to_mask(h_lens, x.size(1))
        if self.mask is not None and self.training:
            x, _ = self.mask(x, ~valid)
        if self.mask_channel_prob > 0 and self.training:
            x = mask_channels(x, self.mask_channel_prob, self.mask_channel_length)
        x = self._transformer(x, attention_mask, valid)
        return x.masked_fill(~valid.unsqueeze(-1), 0.0), h_lens

    def _transformer(self, x: Tensor, attention_mask: Tensor, valid: Tensor) -> Tensor:
        """torchaudio's Transformer.forward, except that WavLM layers get the padding as
        ``key_padding_mask`` (torchaudio passes them ``attention_mask``, which they reject,
        so torchaudio's own WavLM forward fails when given lengths)."""
        transformer = self.model.encoder.transformer
        attention = transformer.layers[0].attention
        wavlm = isinstance(attention, WavLMSelfAttention)
        # Additive and finite like torchaudio's mask, so an empty utterance gives no NaN; in
        # the dtype of WavLM's position bias (its embedding's, also under autocast).
        dtype = attention.rel_attn_embed.weight.dtype if wavlm else x.dtype
        key_padding = (~valid).to(dtype) * -10000.0
        x = transformer._preprocess(x)
        position_bias = None
        for layer in transformer.layers:
            # LayerDrop; never WavLM's first layer: it makes the position bias, and without
            # that bias WavLM attention drops the padding mask too.
            makes_bias = wavlm and layer.attention.rel_attn_embed is not None
            if self.training and not makes_bias and torch.rand(1).item() <= transformer.layer_drop:
                continue
            if wavlm:
                x, position_bias = layer(x, None, position_bias, key_padding_mask=key_padding)
            else:
                x, position_bias = layer(x, attention_mask, position_bias)
        return x if transformer.layer_norm_first else transformer.layer_norm(x)

    def _load(self, path: Path, arch: str | Mapping[str, Any]) -> None:
        pre = read_pretrained(path)
        mine = arch_of(self.model)
        diff = {k: (mine.get(k), v) for k, v in pre.arch.items() if mine.get(k) != v}
        if diff:
            shown = "; ".join(f"{k}: arch {a!r} vs checkpoint {b!r}" for k, (a, b) in diff.items())
            names = matching_factories(pre.arch)
            fix = (f"set arch: {names[0]}" if names else
                   f"set arch to these torchaudio.models.wav2vec2_model kwargs: {pre.arch}")
            raise ValueError(f"{path}: the checkpoint's architecture differs from arch={arch!r} "
                             f"({shown}); {fix}")
        missing, unexpected = self.model.load_state_dict(pre.state, strict=False)
        if missing or unexpected:
            raise ValueError(f"{path}: parameters missing from the checkpoint: {missing[:8]}; "
                             f"not in the model: {[pre.source[k] for k in unexpected[:8]]}")
        if self.mask is not None and pre.mask_embedding is not None:
            with torch.no_grad():
                self.mask.mask_embedding.copy_(pre.mask_embedding)
        self.pretrained_normalize = pre.normalize
        hint = ("" if pre.normalize is None else
                f"; it was pre-trained on {'normalised' if pre.normalize else 'raw'} waveforms "
                f"(frontend.normalize={str(pre.normalize).lower()})")
        log.info("%s: imported %d tensors, dropped %s%s", path, len(pre.state),
                 sorted(pre.dropped) or "nothing", hint)


def mask_channels(x: Tensor, prob: float, length: int) -> Tensor:
    """Zero spans of ``length`` channels of x [B, T, C] over all frames, about ``prob * C /
    length`` spans per utterance (rounded at random), as fairseq's channel masking does.
    torchaudio's MaskGenerator fails when that rounds to 0 spans, hence this."""
    batch, _, channels = x.shape
    length = min(length, channels)
    spans = int(prob * channels / length + torch.rand(1).item())
    if spans == 0:
        return x
    starts = torch.randint(0, channels - length + 1, (batch, spans, 1), device=x.device)
    idx = torch.arange(channels, device=x.device)
    drop = ((idx >= starts) & (idx < starts + length)).any(1)  # [B, C]
    return x.masked_fill(drop.unsqueeze(1), 0.0)


def build_model(arch: str | Mapping[str, Any], overrides: dict[str, float]) -> Wav2Vec2Model:
    """torchaudio model from a factory name or explicit kwargs, without an output layer."""
    if isinstance(arch, str):
        if arch not in FACTORIES:
            raise ValueError(f"unknown wav2vec2 arch {arch!r}: use one of {', '.join(FACTORIES)} "
                             "or a dict of torchaudio.models.wav2vec2_model kwargs")
        return getattr(torchaudio.models, arch)(**overrides)
    kwargs = {**dict.fromkeys(_DROPOUTS.values(), 0.0), **dict(arch), **overrides,
              "aux_num_out": None}
    if kwargs.get("extractor_conv_layer_config") is not None:
        kwargs["extractor_conv_layer_config"] = [tuple(c) for c in kwargs["extractor_conv_layer_config"]]
    factory = wavlm_model if "encoder_num_buckets" in kwargs else wav2vec2_model
    try:
        return factory(**kwargs)
    except TypeError as err:  # a misspelt or missing kwarg
        raise ValueError(f"wav2vec2 arch kwargs: {err}") from None


def arch_of(model: Wav2Vec2Model) -> dict[str, Any]:
    """The shape-determining kwargs a built model was made with (read off its modules)."""
    convs = model.feature_extractor.conv_layers
    transformer = model.encoder.transformer
    attention = transformer.layers[0].attention
    arch = {
        "extractor_mode": "group_norm" if isinstance(convs[0].layer_norm, nn.GroupNorm) else "layer_norm",
        "extractor_conv_layer_config": [(b.conv.out_channels, b.kernel_size, b.stride) for b in convs],
        "extractor_conv_bias": convs[0].conv.bias is not None,
        "encoder_embed_dim": model.encoder.feature_projection.projection.out_features,
        "encoder_pos_conv_kernel": transformer.pos_conv_embed.kernel_size,
        "encoder_pos_conv_groups": transformer.pos_conv_embed.conv.groups,
        "encoder_num_layers": len(transformer.layers),
        "encoder_num_heads": attention.num_heads,
        "encoder_ff_interm_features": transformer.layers[0].feed_forward.intermediate_dense.out_features,
        "encoder_layer_norm_first": transformer.layers[0].layer_norm_first,  # (the Transformer flag is inverted)
    }
    if isinstance(attention, WavLMSelfAttention):
        arch.update(encoder_num_buckets=attention.num_buckets, encoder_max_distance=attention.max_distance)
    return arch


def matching_factories(arch: dict[str, Any]) -> list[str]:
    """torchaudio factory names whose architecture equals ``arch`` (built on the meta device)."""
    with torch.device("meta"):
        return [n for n in FACTORIES if arch_of(getattr(torchaudio.models, n)()) == arch]


# ---------------------------------------------------------------------------- checkpoints

def read_pretrained(path: Path) -> Pretrained:
    """A fairseq ``.pt`` file, a Hugging Face dir / weights file (config.json beside it), or
    an audiokit HuBERT pretraining (its exp dir or ``model.pt``)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: pre-trained wav2vec2 checkpoint not found")
    if path.is_dir() and (path / "model.pt").is_file():
        path = path / "model.pt"
    if path.name == "model.pt" and not (path.parent / "config.json").is_file():
        return read_audiokit_hubert(path)
    if path.is_dir() or (path.parent / "config.json").is_file():
        return read_huggingface(path)
    return read_fairseq(path)


_AUDIOKIT_HUBERT = "audiokit.tasks.hubert_pretraining.HuBERTPretrainingTask"


def read_audiokit_hubert(path: Path) -> Pretrained:
    """The encoder of an audiokit HuBERT pretraining's ``model.pt``: read with
    ``weights_only=True`` and its config checked against the allowlist
    (:func:`audiokit.inference.loading.read_model_file`); the architecture is its
    ``model.arch``, the weights its ``model.wav2vec2.*`` and mask embedding (the prediction
    head is dropped)."""
    from audiokit.inference.loading import read_model_file

    saved = read_model_file(path)
    if saved.get("task") != _AUDIOKIT_HUBERT:
        raise ValueError(f"{path}: an audiokit model of {saved.get('task')!r}, not a HuBERT "
                         f"pretraining ({_AUDIOKIT_HUBERT})")
    arch = dict(saved["hparams"]["model"]["arch"])
    with torch.device("meta"):
        arch = arch_of(build_model(arch, {}))
    pre = Pretrained(arch=arch, state={}, source={})
    for key, value in saved["state_dict"].items():
        if key.startswith("model.wav2vec2."):
            name = key.removeprefix("model.wav2vec2.")
            pre.state[name], pre.source[name] = value, key
        elif key == "model.mask.mask_embedding":
            pre.mask_embedding = value
        else:
            pre.dropped.append(key.split(".")[1] if key.startswith("model.") else key)
    pre.dropped = sorted(set(pre.dropped))
    pre.normalize = bool(saved["hparams"]["frontend"].get("normalize", False))
    return pre


def _rename(weights: Mapping[str, Tensor], prefix: str, rules: list[tuple[str, str]],
            drop: str, mask_key: str, path: Path) -> Pretrained:
    pre = Pretrained(arch={}, state={}, source={})
    unknown = []
    for key, value in weights.items():
        name = re.sub(prefix, "", key)
        if name == mask_key:
            pre.mask_embedding = value
            continue
        if re.fullmatch(drop, name):
            pre.dropped.append(name.split(".")[0])
            continue
        for pattern, target in rules:
            match = re.fullmatch(pattern, name)
            if match:
                new = match.expand(target)
                pre.state[new], pre.source[new] = value, key
                break
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"{path}: parameters that are not part of a wav2vec2/HuBERT encoder: "
                         f"{unknown[:8]}{' ...' if len(unknown) > 8 else ''}")
    pre.dropped = sorted(set(pre.dropped))
    return pre


def read_huggingface(path: Path) -> Pretrained:
    model_dir = path if path.is_dir() else path.parent
    config_file = model_dir / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{config_file}: not found (a Hugging Face model dir holds "
                                "config.json and the weights)")
    cfg = json.loads(config_file.read_text())
    kind = cfg.get("model_type")
    if kind not in _HF_KINDS:
        raise ValueError(f"{config_file}: model_type {kind!r} is not one of {_HF_KINDS}")
    for key in ("hidden_act", "feat_extract_activation"):
        if cfg.get(key, "gelu") != "gelu":  # torchaudio's modules use GELU throughout
            raise ValueError(f"{config_file}: {key}={cfg[key]!r} is not supported (only gelu)")
    try:
        arch = {
            "extractor_mode": f"{cfg['feat_extract_norm']}_norm",
            "extractor_conv_layer_config": list(zip(cfg["conv_dim"], cfg["conv_kernel"],
                                                    cfg["conv_stride"], strict=True)),
            "extractor_conv_bias": bool(cfg["conv_bias"]),
            "encoder_embed_dim": cfg["hidden_size"],
            "encoder_pos_conv_kernel": cfg["num_conv_pos_embeddings"],
            "encoder_pos_conv_groups": cfg["num_conv_pos_embedding_groups"],
            "encoder_num_layers": cfg["num_hidden_layers"],
            "encoder_num_heads": cfg["num_attention_heads"],
            "encoder_ff_interm_features": cfg["intermediate_size"],
            "encoder_layer_norm_first": bool(cfg["do_stable_layer_norm"]),
        }
        if kind == "wavlm":
            arch.update(encoder_num_buckets=cfg["num_buckets"],
                        encoder_max_distance=cfg["max_bucket_distance"])
    except KeyError as err:
        raise ValueError(f"{config_file}: no {err.args[0]!r} entry") from None

    weights = _read_hf_weights(path)
    pre = _rename(weights, r"^(wav2vec2|hubert|wavlm)\.", _HF_RULES, _HF_DROP,
                  "masked_spec_embed", path)
    pre.arch = arch
    if kind == "wavlm":
        _fuse_wavlm_qkv(pre, arch["encoder_num_layers"])
    preprocessor = model_dir / "preprocessor_config.json"
    if preprocessor.is_file():
        pre.normalize = json.loads(preprocessor.read_text()).get("do_normalize")
    return pre


def _read_hf_weights(path: Path) -> dict[str, Tensor]:
    if path.is_dir():
        names = ("pytorch_model.bin", "model.safetensors", "pytorch_model.bin.index.json",
                 "model.safetensors.index.json")
        found = [path / n for n in names if (path / n).is_file()]
        if not found:
            raise FileNotFoundError(f"{path}: no {' or '.join(names)}")
        path = found[0]
    if path.name.endswith(".index.json"):  # sharded: {"weight_map": {name: shard file}}
        shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
        return {k: v for shard in shards for k, v in _read_hf_weights(path.parent / shard).items()}
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise ImportError(f"{path}: reading .safetensors needs `pip install safetensors` "
                              "(or use the model's pytorch_model.bin)") from None
        return load_file(path)
    return torch.load(path, map_location="cpu", weights_only=True)


def _fuse_wavlm_qkv(pre: Pretrained, num_layers: int) -> None:
    """HF WavLM has separate q/k/v projections; torchaudio's wraps nn.MultiheadAttention."""
    for i in range(num_layers):
        p = f"{_LAYERS}.{i}.attention."
        for kind in ("weight", "bias"):
            parts = [p + f"{x}_proj.{kind}" for x in "qkv"]
            fused = p + f"attention.in_proj_{kind}"
            pre.source[fused] = " + ".join(pre.source.pop(n) for n in parts)
            pre.state[fused] = torch.cat([pre.state.pop(n) for n in parts])
            pre.source[p + f"attention.out_proj.{kind}"] = pre.source.pop(p + f"out_proj.{kind}")
            pre.state[p + f"attention.out_proj.{kind}"] = pre.state.pop(p + f"out_proj.{kind}")


def read_fairseq(path: Path) -> Pretrained:
    ckpt = _load_pickle(path)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        raise ValueError(f"{path}: not a fairseq checkpoint (no 'model' state dict)")
    model_cfg, task_cfg = _fairseq_configs(_plain(ckpt.get("cfg") or ckpt.get("args")), path)
    name = model_cfg.get("_name", model_cfg.get("arch"))
    if name is not None and not str(name).startswith(("wav2vec2", "hubert")):
        raise ValueError(f"{path}: a fairseq {name!r} model, not wav2vec2 or HuBERT")
    if model_cfg.get("layer_type", "transformer") != "transformer" or model_cfg.get("pos_conv_depth", 1) != 1:
        raise ValueError(f"{path}: only fairseq's plain transformer encoder is supported "
                         f"(layer_type {model_cfg.get('layer_type')!r}, pos_conv_depth "
                         f"{model_cfg.get('pos_conv_depth')!r})")

    def get(key: str, default: Any) -> Any:  # fairseq fills absent keys with its defaults
        value = model_cfg.get(key)
        return default if value is None else value

    mode = get("extractor_mode", "default")
    arch = {
        "extractor_mode": "group_norm" if mode == "default" else mode,
        "extractor_conv_layer_config": _parse_conv_layers(get("conv_feature_layers", _FAIRSEQ_CONV_DEFAULT)),
        "extractor_conv_bias": bool(get("conv_bias", False)),
        "encoder_embed_dim": get("encoder_embed_dim", 768),
        "encoder_pos_conv_kernel": get("conv_pos", 128),
        "encoder_pos_conv_groups": get("conv_pos_groups", 16),
        "encoder_num_layers": get("encoder_layers", 12),
        "encoder_num_heads": get("encoder_attention_heads", 12),
        "encoder_ff_interm_features": get("encoder_ffn_embed_dim", 3072),
        "encoder_layer_norm_first": bool(get("layer_norm_first", False)),
    }
    pre = _rename(ckpt["model"], r"^(w2v_encoder\.)?(w2v_model\.)?", _FAIRSEQ_RULES,
                  _FAIRSEQ_DROP, "mask_emb", path)
    pre.arch = arch
    proj = "encoder.feature_projection.projection."
    if proj + "weight" not in pre.state:
        # fairseq has no post_extract_proj when the conv width already equals the model width.
        width = arch["encoder_embed_dim"]
        pre.state[proj + "weight"], pre.state[proj + "bias"] = torch.eye(width), torch.zeros(width)
        pre.source[proj + "weight"] = pre.source[proj + "bias"] = "(identity)"
    pre.normalize = task_cfg.get("normalize")
    return pre


def _fairseq_configs(node: Any, path: Path) -> tuple[dict, dict]:
    """(model config, task config) of the pre-trained encoder, from ``cfg`` (hydra era) or
    ``args`` (argparse era: one flat namespace); fine-tuned models nest it in ``w2v_args``."""
    if not isinstance(node, dict):
        raise ValueError(f"{path}: no readable 'cfg' or 'args' in the checkpoint")
    if isinstance(node.get("model"), dict):
        model, task = node["model"], node.get("task") or {}
    else:
        model = task = node
    if model.get("w2v_args") is not None:
        return _fairseq_configs(model["w2v_args"], path)
    if model.get("w2v_path") is not None:
        raise ValueError(f"{path}: fine-tuned checkpoint without its pre-training config "
                         f"(w2v_args); use the pre-trained checkpoint {model['w2v_path']}")
    return model, task


def _parse_conv_layers(text: str | list) -> list[tuple[int, int, int]]:
    """fairseq's ``conv_feature_layers`` string, e.g. "[(512, 10, 5)] + [(512, 3, 2)] * 4",
    evaluated without eval(): only int/list/tuple literals, + and *."""
    if not isinstance(text, str):
        return [tuple(c) for c in text]

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.List | ast.Tuple):
            items = [value(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
            left, right = value(node.left), value(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError(f"conv_feature_layers: unsupported expression {ast.dump(node)}")

    return [tuple(c) for c in value(ast.parse(text, mode="eval").body)]


_SAFE_BUILTINS = {"dict", "list", "tuple", "set", "frozenset", "int", "float", "complex",
                  "str", "bytes", "bool", "slice", "range"}


class _Opaque:
    """Inert stand-in for a class a checkpoint names but audiokit does not allow (fairseq
    meters, omegaconf nodes, numpy scalars): it only records what it was given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _load_pickle(path: Path) -> Any:
    """torch.load(weights_only=True), with every disallowed global replaced by ``_Opaque``."""
    stubs: dict[str, Any] = {"argparse.Namespace": argparse.Namespace}  # an attribute bag

    def stub(name: str) -> Any:  # plain builtin types are safe to use as they are
        kind = name.removeprefix("builtins.")
        return getattr(builtins, kind) if kind in _SAFE_BUILTINS else _Opaque

    if zipfile.is_zipfile(path):
        for name in torch.serialization.get_unsafe_globals_in_checkpoint(path):
            stubs.setdefault(name, stub(name))
    while True:  # legacy (non-zip) files cannot be scanned: learn the names from the errors
        try:
            with torch.serialization.safe_globals([(obj, n) for n, obj in stubs.items()]):
                return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            match = re.search(r"GLOBAL (\S+) was not an allowed global", str(err))
            # torch prints builtins without their module ("dict" for builtins.dict)
            name = match and (match.group(1) if "." in match.group(1) else f"builtins.{match.group(1)}")
            if not name or name in stubs:
                raise ValueError(f"{path}: cannot read as a fairseq checkpoint: {err}") from None
            stubs[name] = stub(name)


def _plain(node: Any) -> Any:
    """Plain dicts and lists from a config that may hold Namespaces or stubbed omegaconf
    objects (DictConfig/ListConfig keep their items in ``_content``, leaf nodes in ``_val``)."""
    if isinstance(node, _Opaque):
        state = getattr(node, "state", None)
        if isinstance(state, dict) and "_content" in state:
            return _plain(state["_content"])
        if isinstance(state, dict) and "_val" in state:
            return _plain(state["_val"])
        if state is None and len(node.args) == 1:  # an enum member pickles as Enum(value)
            return node.args[0]
        return node
    if isinstance(node, argparse.Namespace):
        node = vars(node)
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    return node
