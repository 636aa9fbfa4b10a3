"""BEATs encoder (Chen et al. 2022, microsoft/unilm ``beats``), able to load the published
``BEATs_iter*.pt`` files and compute what the published model computes.

Pipeline: 16 kHz waveform -> Kaldi fbank (128 bins, 25/10 ms, as ``torchaudio.compliance.
kaldi.fbank`` on int16-scaled audio) -> ``(fbank - 15.41663) / (2 * 6.55582)`` -> 16x16 patch
convolution over ``[time, freq]`` (tokens time-major: ``t * 8 + f``) -> layer norm -> linear
projection -> convolutional positional embedding (weight-normed grouped conv, GELU) -> post-LN
transformer layers with DeepNorm residual scaling ``(2 L) ** 0.25`` and a gated relative
position bias (bucketed, shared by all layers, gated per head and query by ``grep_linear`` /
``grep_a``).

Parameter names are the published ones, so a checkpoint maps one to one, except that the
relative position table, which the published state dict repeats for every layer, is kept once
(layer 0), and a weight-normed conv saved by a newer torch (``parametrizations.weight.
original0/1``) is read as ``weight_g`` / ``weight_v``. A fine-tuned file's ``predictor`` (the
AudioSet head) is dropped: this is an encoder.

Differences on purpose: each utterance of a batch gets its own fbank and its own padding
(patches past its end are left out of attention and zeroed before the positional conv), so an
utterance's output does not depend on the batch; the published code derives a coarser mask.
Layer drop is not implemented (inference and frozen features do not use it).
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn
from torchaudio.compliance import kaldi

from audiokit.frontends.fbank import INT16_SCALE
from audiokit.utils.masking import lengths_to_mask

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FBANK_MEAN, FBANK_STD = 15.41663, 6.55582
MEL_BINS = 128
WIN, HOP = 400, 160  # 25 ms / 10 ms at 16 kHz

# What BEATsConfig assumes for keys a file's "cfg" leaves out; the ones that decide shapes or
# the computation are compared with the module's settings on load.
PUBLISHED_DEFAULTS: dict[str, Any] = {
    "input_patch_size": -1, "embed_dim": 512, "conv_bias": False, "encoder_layers": 12,
    "encoder_embed_dim": 768, "encoder_ffn_embed_dim": 3072, "encoder_attention_heads": 12,
    "activation_fn": "gelu", "layer_norm_first": False, "deep_norm": False, "conv_pos": 128,
    "conv_pos_groups": 16, "relative_position_embedding": False, "num_buckets": 320,
    "max_distance": 1280, "gru_rel_pos": False,
}
ARCH_KEYS = tuple(k for k in PUBLISHED_DEFAULTS if k != "activation_fn")


def relative_position_bucket(relative: Tensor, num_buckets: int, max_distance: int) -> Tensor:
    """T5-style bidirectional buckets: half the buckets per direction, exact up to a quarter
    of them, logarithmic up to ``max_distance``, the last bucket beyond."""
    half = num_buckets // 2
    bucket = (relative > 0).long() * half
    distance = relative.abs()
    exact = half // 2
    log_part = exact + (torch.log(distance.float().clamp(min=1) / exact)
                        / math.log(max_distance / exact) * (half - exact)).long()
    log_part = log_part.clamp(max=half - 1)
    return bucket + torch.where(distance < exact, distance, log_part)


def patch_grid(fbank: Tensor, frames: Tensor, patch: int) -> tuple[Tensor, Tensor]:
    """Fbank [B, frames, bins] cut or zero-padded to whole time patches [B, T' * patch, bins]
    and the token counts [B] (``T' * bins / patch``; a partial last patch is dropped)."""
    time_lens = frames // patch
    need = max(int(time_lens.max()), 1) * patch
    fbank = F.pad(fbank, (0, 0, 0, max(need - fbank.shape[1], 0)))[:, :need]
    return fbank, time_lens * (fbank.shape[-1] // patch)


def fbank_patches(fbank: Tensor, frames: Tensor, patch: int) -> tuple[Tensor, Tensor]:
    """The fbank's square patches [B, N, patch * patch] in BEATs' token order (time-major,
    ``t * freq_patches + f``) and the token counts [B]."""
    fbank, token_lens = patch_grid(fbank, frames, patch)
    cut = F.unfold(fbank.unsqueeze(1), patch, stride=patch)  # [B, P, T' * F'], row-major
    return cut.transpose(1, 2), token_lens


class WeightNormConv1d(nn.Module):
    """Grouped conv1d with weight norm over all but the kernel axis (``weight_norm(dim=2)``),
    parameters named as the published state dict names them."""

    def __init__(self, channels: int, kernel: int, groups: int) -> None:
        super().__init__()
        self.padding, self.groups = kernel // 2, groups
        self.weight_g = nn.Parameter(torch.ones(1, 1, kernel))
        self.weight_v = nn.Parameter(torch.randn(channels, channels // groups, kernel) * 0.02)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight_v * (self.weight_g / self.weight_v.norm(dim=(0, 1), keepdim=True))
        return F.conv1d(x, weight, self.bias, padding=self.padding, groups=self.groups)


class GatedRelativeAttention(nn.Module):
    """Multi-head self-attention with BEATs' (optionally gated) relative position bias."""

    def __init__(self, dim: int, heads: int, dropout: float, relative_bias: bool,
                 num_buckets: int, max_distance: int, gated: bool) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.num_buckets, self.max_distance = num_buckets, max_distance
        self.q_proj, self.k_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.v_proj, self.out_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        # only the first layer holds the table; the others reuse the bias it computes
        self.relative_attention_bias = nn.Embedding(num_buckets, heads) if relative_bias else None
        self.gated = gated
        if gated:
            self.grep_linear = nn.Linear(dim // heads, 8)
            self.grep_a = nn.Parameter(torch.ones(1, heads, 1, 1))

    def position_bias(self, length: int) -> Tensor:
        pos = torch.arange(length, device=self.relative_attention_bias.weight.device)
        buckets = relative_position_bucket(pos[None, :] - pos[:, None], self.num_buckets,
                                           self.max_distance)
        return self.relative_attention_bias(buckets).permute(2, 0, 1).unsqueeze(0)  # [1,H,L,L]

    def forward(self, x: Tensor, key_padding: Tensor, bias: Tensor | None
                ) -> tuple[Tensor, Tensor | None]:
        batch, length, dim = x.shape
        q, k, v = (p(x).view(batch, length, self.heads, -1).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))  # [B, H, L, hd]
        if bias is None and self.relative_attention_bias is not None:
            bias = self.position_bias(length)
        mask = x.new_zeros(batch, 1, 1, length) if bias is None else bias.to(x.dtype)
        if bias is not None and self.gated:
            # per head and query: sigmoid of two sums of 4 projections of the (unscaled) query
            gate_a, gate_b = torch.sigmoid(
                self.grep_linear(q).view(batch, self.heads, length, 2, 4).sum(-1)).chunk(2, -1)
            mask = (gate_a * (gate_b * self.grep_a - 1.0) + 2.0) * mask
        mask = mask.masked_fill(key_padding[:, None, None, :], torch.finfo(mask.dtype).min)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, dim)), bias


class BEATsLayer(nn.Module):
    """Post-LN (DeepNorm-scaled) or pre-LN transformer layer, as the published one."""

    def __init__(self, dim: int, ffn_dim: int, heads: int, dropout: float,
                 attention_dropout: float, activation_dropout: float, layer_norm_first: bool,
                 deep_norm_alpha: float, **attention: Any) -> None:
        super().__init__()
        self.self_attn = GatedRelativeAttention(dim, heads, attention_dropout, **attention)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, ffn_dim), nn.Linear(ffn_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim)
        self.layer_norm_first, self.alpha = layer_norm_first, deep_norm_alpha
        self.dropout, self.activation_dropout = nn.Dropout(dropout), nn.Dropout(activation_dropout)

    def ffn(self, x: Tensor) -> Tensor:
        return self.dropout(self.fc2(self.activation_dropout(F.gelu(self.fc1(x)))))

    def forward(self, x: Tensor, key_padding: Tensor, bias: Tensor | None
                ) -> tuple[Tensor, Tensor | None]:
        if self.layer_norm_first:
            a, bias = self.self_attn(self.self_attn_layer_norm(x), key_padding, bias)
            x = x + self.dropout(a)
            return x + self.ffn(self.final_layer_norm(x)), bias
        a, bias = self.self_attn(x, key_padding, bias)
        x = self.self_attn_layer_norm(x * self.alpha + self.dropout(a))
        return self.final_layer_norm(x * self.alpha + self.ffn(x)), bias


class BEATsTransformer(nn.Module):
    """Positional conv + layers (``encoder.*`` in the published state dict)."""

    def __init__(self, dim: int, conv_pos: int, conv_pos_groups: int, layers: list[BEATsLayer],
                 layer_norm_first: bool, dropout: float) -> None:
        super().__init__()
        self.pos_conv = nn.Sequential(WeightNormConv1d(dim, conv_pos, conv_pos_groups))
        self.trim = 1 if conv_pos % 2 == 0 else 0  # "same" padding for an even kernel
        self.layers = nn.ModuleList(layers)
        self.layer_norm = nn.LayerNorm(dim)
        self.layer_norm_first = layer_norm_first
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, padding: Tensor) -> list[Tensor]:
        """x [B, N, D] -> the input to the first layer and every layer's output."""
        x = x.masked_fill(padding.unsqueeze(-1), 0.0)
        conv = self.pos_conv(x.transpose(1, 2))
        conv = conv[..., : conv.shape[-1] - self.trim] if self.trim else conv
        x = x + F.gelu(conv).transpose(1, 2)
        if not self.layer_norm_first:
            x = self.layer_norm(x)
        hidden, bias = [self.dropout(x)], None
        for layer in self.layers:
            x, bias = layer(hidden[-1], padding, bias)
            hidden.append(x)
        if self.layer_norm_first:
            hidden[-1] = self.layer_norm(hidden[-1])
        return hidden


class BEATs(nn.Module):
    """BEATs encoder: waveform ``[B, T]`` (+ lengths) -> tokens of every layer.

    Args: the published ``BEATsConfig`` names (defaults: the released iter3 base models),
        ``pretrained`` (a published ``BEATs*.pt``, or an audiokit experiment dir / its
        ``model.pt`` holding a BEATs encoder, e.g. from ``ssl/fsdd_beats_iter*``; the file's
        settings must agree with these, the error names the differences), ``sample_rate`` of
        the input (resampled to 16 kHz when different), ``fbank_mean`` / ``fbank_std``
        (BEATs' fixed normalisation), ``fbank_high_freq`` (Kaldi's ``high_freq``: 0 = 8 kHz as
        published; 4000 spreads the 128 bins over what 8 kHz audio holds).
    """

    def __init__(
        self,
        input_patch_size: int = 16,
        embed_dim: int = 512,
        conv_bias: bool = False,
        encoder_layers: int = 12,
        encoder_embed_dim: int = 768,
        encoder_ffn_embed_dim: int = 3072,
        encoder_attention_heads: int = 12,
        layer_norm_first: bool = False,
        deep_norm: bool = True,
        conv_pos: int = 128,
        conv_pos_groups: int = 16,
        relative_position_embedding: bool = True,
        num_buckets: int = 320,
        max_distance: int = 800,
        gru_rel_pos: bool = True,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        activation_dropout: float = 0.0,
        pretrained: str | Path | None = None,
        sample_rate: int = SAMPLE_RATE,
        fbank_mean: float = FBANK_MEAN,
        fbank_std: float = FBANK_STD,
        fbank_high_freq: float = 0.0,
    ) -> None:
        super().__init__()
        if MEL_BINS % input_patch_size:
            raise ValueError(f"input_patch_size {input_patch_size} must divide {MEL_BINS} bins")
        self.arch = {k: v for k, v in locals().items() if k in ARCH_KEYS}
        self.sample_rate, self.fbank_mean, self.fbank_std = sample_rate, fbank_mean, fbank_std
        self.fbank_high_freq = fbank_high_freq
        self.patch = input_patch_size
        self.freq_patches = MEL_BINS // input_patch_size
        self.output_dim = encoder_embed_dim
        self.num_layers = encoder_layers
        self.patch_embedding = nn.Conv2d(1, embed_dim, input_patch_size, input_patch_size,
                                         bias=conv_bias)
        self.layer_norm = nn.LayerNorm(embed_dim)
        self.post_extract_proj = (nn.Linear(embed_dim, encoder_embed_dim)
                                  if embed_dim != encoder_embed_dim else None)
        alpha = (2 * encoder_layers) ** 0.25 if deep_norm else 1.0
        layers = [BEATsLayer(encoder_embed_dim, encoder_ffn_embed_dim, encoder_attention_heads,
                             dropout, attention_dropout, activation_dropout, layer_norm_first,
                             alpha, relative_bias=relative_position_embedding and i == 0,
                             num_buckets=num_buckets, max_distance=max_distance,
                             gated=gru_rel_pos)
                  for i in range(encoder_layers)]
        self.encoder = BEATsTransformer(encoder_embed_dim, conv_pos, conv_pos_groups, layers,
                                        layer_norm_first, dropout)
        if pretrained is not None:
            self.load(pretrained)

    # ------------------------------------------------------------------ computation

    def fbank(self, wav: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised 128-bin fbanks [B, frames, 128] of each utterance on its own, zero-padded,
        and their frame counts."""
        rows = []
        for b, n in enumerate(lens.tolist()):
            x = wav[b : b + 1, :n]
            if self.sample_rate != SAMPLE_RATE:
                x = torchaudio.functional.resample(x, self.sample_rate, SAMPLE_RATE)
            if x.shape[-1] < WIN:  # shorter than one window: no frame
                rows.append(x.new_zeros(0, MEL_BINS))
                continue
            feats = kaldi.fbank(x * INT16_SCALE, num_mel_bins=MEL_BINS,
                                sample_frequency=SAMPLE_RATE, frame_length=25.0,
                                frame_shift=10.0, dither=0.0, high_freq=self.fbank_high_freq)
            rows.append((feats - self.fbank_mean) / (2 * self.fbank_std))
        frames = torch.tensor([len(r) for r in rows], device=wav.device)
        return nn.utils.rnn.pad_sequence(rows, batch_first=True), frames

    def forward(self, wav: Tensor, lens: Tensor) -> tuple[list[Tensor], Tensor]:
        """``wav`` [B, T], ``lens`` [B] -> (hidden states: the transformer input and each
        layer's output, each [B, N, D] with tokens ``t * freq_patches + f``; token counts [B]).
        Patches past an utterance's end are padding (their rows are not meaningful)."""
        fbank, frames = self.fbank(wav, lens)
        x, token_lens = self.embed(fbank, frames)
        return self.encode(x, token_lens), token_lens

    def patch_grid(self, fbank: Tensor, frames: Tensor) -> tuple[Tensor, Tensor]:
        """Fbank [B, frames, 128] cut or zero-padded to whole time patches [B, T' * patch, 128]
        and the token counts [B] (a partial last patch is dropped)."""
        return patch_grid(fbank, frames, self.patch)

    def patches(self, fbank: Tensor, frames: Tensor) -> tuple[Tensor, Tensor]:
        """The fbank patches themselves [B, N, patch * patch] in token order, token counts [B]:
        what a tokenizer labels."""
        return fbank_patches(fbank, frames, self.patch)

    def embed(self, fbank: Tensor, frames: Tensor) -> tuple[Tensor, Tensor]:
        """Fbank -> the token embeddings the transformer reads [B, N, D], token counts [B]."""
        fbank, token_lens = self.patch_grid(fbank, frames)
        x = self.patch_embedding(fbank.unsqueeze(1))  # [B, E, T', F']
        x = self.layer_norm(x.flatten(2).transpose(1, 2))  # time-major tokens
        if self.post_extract_proj is not None:
            x = self.post_extract_proj(x)
        return x, token_lens

    def encode(self, x: Tensor, token_lens: Tensor) -> list[Tensor]:
        """Token embeddings [B, N, D] -> the transformer input and every layer's output."""
        return self.encoder(x, ~lengths_to_mask(token_lens, x.shape[1]))

    def to_frames(self, tokens: Tensor, token_lens: Tensor) -> tuple[Tensor, Tensor]:
        """Tokens [B, T' * F', D] -> one vector per time patch [B, T', D] (mean over the
        frequency patches), padding zeroed; one frame per 160 ms at the default patch."""
        frames = tokens.unflatten(1, (-1, self.freq_patches)).mean(2)
        lens = token_lens // self.freq_patches
        return frames.masked_fill(~lengths_to_mask(lens, frames.shape[1]).unsqueeze(-1), 0.0), lens

    # ------------------------------------------------------------------ checkpoints

    def load(self, path: str | Path) -> None:
        """Weights from a published BEATs file or an audiokit experiment (dir or ``model.pt``)."""
        from audiokit.inference.loading import MODEL_FILE, read_model_file
        from audiokit.models.asr.wav2vec2 import _load_pickle

        path = Path(path)
        path = path / MODEL_FILE if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(f"{path}: BEATs checkpoint not found")
        saved = _load_pickle(path)  # weights_only; published files may name other globals
        if isinstance(saved, dict) and isinstance(saved.get("state_dict"), dict):
            self.load_experiment(path, read_model_file(path))  # audiokit's checks on top
        else:
            self.load_published(path, saved)

    def load_experiment(self, path: Path, saved: dict) -> None:
        """The BEATs encoder of an audiokit ``model.pt``: ``model.encoder.*`` of a BEATs
        pretraining (ssl/fsdd_beats_iter*) or ``frontend.upstream.*`` of a task on its
        features; the settings saved with it must match this module's."""
        state = saved["state_dict"]
        prefix = next((p for p in ("model.encoder.", "frontend.upstream.")
                       if p + "patch_embedding.weight" in state), None)
        if prefix is None:
            raise ValueError(f"{path}: no BEATs encoder weights (model.encoder.* of a BEATs "
                             "pretraining or frontend.upstream.* of a task on its features)")
        hparams = saved.get("hparams") or {}
        node = ((hparams.get("model") or {}).get("encoder") if prefix == "model.encoder."
                else (hparams.get("frontend") or {}).get("upstream")) or {}
        mine = self.arch | {"fbank_high_freq": self.fbank_high_freq,
                            "fbank_mean": self.fbank_mean, "fbank_std": self.fbank_std}
        diff = {k: (v, node[k]) for k, v in mine.items() if k in node and node[k] != v}
        if diff:
            shown = "; ".join(f"{k}: config {a!r} vs file {b!r}" for k, (a, b) in diff.items())
            raise ValueError(f"{path}: the experiment's BEATs differs from this one ({shown})")
        encoder = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        missing, unexpected = self.load_state_dict(encoder, strict=False)
        if missing or unexpected:
            raise ValueError(f"{path}: tensors missing from the file: {missing[:8]}; not in "
                             f"this BEATs: {unexpected[:8]}")
        log.info("%s: BEATs encoder (%s*) loaded", path, prefix)

    def load_published(self, path: str | Path, saved: Any = None) -> None:
        """Copy a published BEATs checkpoint (``{"cfg": ..., "model": ...}``) into this module
        (``saved``: the file's contents when already read)."""
        cfg, state = read_beats(path, saved)
        file_arch = {k: cfg.get(k, PUBLISHED_DEFAULTS[k]) for k in ARCH_KEYS}
        diff = {k: (self.arch[k], v) for k, v in file_arch.items() if self.arch[k] != v}
        if diff:
            shown = "; ".join(f"{k}: config {a!r} vs file {b!r}" for k, (a, b) in diff.items())
            raise ValueError(f"{path}: the checkpoint's cfg differs from this BEATs ({shown}); "
                             "set those keys as in the file")
        if cfg.get("activation_fn", "gelu") != "gelu":
            raise ValueError(f"{path}: activation_fn {cfg['activation_fn']!r} (only gelu)")
        mapped, dropped = convert_beats(state, self.num_layers, path)
        missing, unexpected = self.load_state_dict(mapped, strict=False)
        if missing or unexpected:
            raise ValueError(f"{path}: tensors missing from the file: {missing[:8]}; not in "
                             f"this BEATs: {unexpected[:8]}")
        log.info("%s: imported %d BEATs tensors, dropped %s", path, len(mapped),
                 dropped or "nothing")


def read_beats(path: str | Path, saved: Any = None) -> tuple[dict, dict[str, Tensor]]:
    """(cfg, state dict) of a published BEATs file, read with ``weights_only=True``."""
    from audiokit.models.asr.wav2vec2 import _load_pickle, _plain

    path = Path(path)
    if saved is None:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: BEATs checkpoint not found")
        saved = _load_pickle(path)
    if not isinstance(saved, dict) or not isinstance(saved.get("model"), dict):
        raise ValueError(f"{path}: not a BEATs checkpoint (no 'model' state dict)")
    cfg = _plain(saved.get("cfg") or {})
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: unreadable 'cfg' entry")
    return cfg, saved["model"]


_POS = "encoder.pos_conv.0."
_REL = re.compile(r"encoder\.layers\.(\d+)\.self_attn\.relative_attention_bias\.weight")


def convert_beats(state: dict[str, Tensor], num_layers: int, path: str | Path = "<state>"
                  ) -> tuple[dict[str, Tensor], list[str]]:
    """Published tensors -> this module's (relative table kept once; predictor dropped)."""
    out, dropped = {}, set()
    for key, value in state.items():
        if key.startswith("predictor."):
            dropped.add("predictor")
            continue
        key = key.replace(_POS + "parametrizations.weight.original0", _POS + "weight_g")
        key = key.replace(_POS + "parametrizations.weight.original1", _POS + "weight_v")
        match = _REL.fullmatch(key)
        if match and match.group(1) != "0":
            first = state.get("encoder.layers.0.self_attn.relative_attention_bias.weight")
            if first is None or not torch.equal(first, value):
                raise ValueError(f"{path}: {key} differs from layer 0's table; BEATs shares one")
            continue
        out[key] = value
    return out, sorted(dropped)


def export_beats(model: BEATs) -> dict[str, Tensor]:
    """This module's tensors in the published layout (the shared table under every layer)."""
    out = dict(model.state_dict())
    table = out.get("encoder.layers.0.self_attn.relative_attention_bias.weight")
    if table is not None:
        for i in range(1, model.num_layers):
            out[f"encoder.layers.{i}.self_attn.relative_attention_bias.weight"] = table
    return out
