"""Import published Audio-MAE weights (facebookresearch/AudioMAE) into an
:class:`~audiokit.models.classification.ast.ASTEncoder`.

The released files are ``torch.save`` dicts whose ``"model"`` entry holds a timm ViT state
dict: ``patch_embed.proj``, ``cls_token``, ``pos_embed`` (CLS position first), ``blocks.{i}``
(``norm1``, ``attn.qkv``, ``attn.proj``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``) and ``norm``
(pretraining) or ``fc_norm`` (fine-tuned, global pooling); the pretraining file also holds the
decoder (``decoder_*``, ``mask_token``) and a fine-tuned one a ``head``, which are dropped.

How the two layouts differ, and why the mapping is exact:

- Audio-MAE feeds ``[B, 1, time, freq]`` and orders tokens time-major; the AST encoder feeds
  ``[B, 1, freq, time]`` and orders them frequency-major. The patch kernel is transposed and
  the positional table re-laid out as ``[D, freq, time]``; attention does not care about the
  token order once each token carries its own position.
- timm adds ``pos_embed[:, 0]`` to the CLS token; the AST encoder's CLS token has no position,
  so the two are summed into ``cls_token``.
- timm's fused ``attn.qkv`` (q, k, v stacked) is exactly ``nn.MultiheadAttention``'s
  ``in_proj``.
- A fine-tuned file's ``fc_norm`` becomes the encoder's final ``norm``: the published model
  applies it after mean pooling, audiokit to every token (then ``pool: mean`` averages), so
  pooled outputs differ slightly; the per-token outputs of a pretraining file are exact.
- Audio-MAE's layer norms use eps 1e-6: build the encoder with ``layer_norm_eps=1e-6`` to
  compute what the published model computes.

Files are read with ``torch.load(weights_only=True)`` (classes a file names but audiokit does
not allow, e.g. an ``argparse.Namespace`` of training args, become inert stand-ins).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from audiokit.models.classification.ast import ASTEncoder

log = logging.getLogger(__name__)

# AudioSet log-fbank statistics Audio-MAE normalises with: (fbank - mean) / (2 * std).
AUDIOSET_MEAN = -4.2677393
AUDIOSET_STD = 4.5689974
PUBLISHED_MEL_BINS = 128  # the released models read 128-bin Kaldi fbanks, 16 kHz, 10 ms hop
LAYER_NORM_EPS = 1e-6

# timm block tensor -> nn.TransformerEncoderLayer tensor
_BLOCK = {f"{timm}.{kind}": f"{ours}.{kind}" for timm, ours in
          [("norm1", "norm1"), ("attn.proj", "self_attn.out_proj"), ("norm2", "norm2"),
           ("mlp.fc1", "linear1"), ("mlp.fc2", "linear2")] for kind in ("weight", "bias")}
_BLOCK.update({"attn.qkv.weight": "self_attn.in_proj_weight",
               "attn.qkv.bias": "self_attn.in_proj_bias"})
_BLOCK_INVERSE = {v: k for k, v in _BLOCK.items()}
_DROP = r"(decoder_.*|mask_token|head\..*)"


def read_audio_mae(path: str | Path) -> dict[str, Tensor] | None:
    """The timm ViT state dict of a published Audio-MAE file, or None when ``path`` is not
    one (e.g. an audiokit ``model.pt``)."""
    from audiokit.models.asr.wav2vec2 import _load_pickle

    saved = _load_pickle(Path(path))
    state = saved.get("model", saved) if isinstance(saved, dict) else None
    if isinstance(state, dict) and "blocks.0.attn.qkv.weight" in state:
        return state
    return None


def convert_audio_mae(state: dict[str, Tensor], source_freq_patches: int,
                      path: str | Path = "<state>") -> tuple[dict[str, Tensor], list[str]]:
    """timm ViT tensors -> (ASTEncoder tensors, names dropped). ``pos_embed`` stays on the
    source grid, ``[1, D, source_freq_patches, time_patches]``."""
    out: dict[str, Tensor] = {}
    dropped, unknown = [], []
    for key, value in state.items():
        if re.fullmatch(_DROP, key):
            dropped.append(key)
            continue
        if key in ("patch_embed.proj.weight", "patch_embed.proj.bias"):
            # [D, 1, time, freq] -> [D, 1, freq, time]
            out[key.replace(".proj", "")] = value.transpose(2, 3) if value.dim() == 4 else value
        elif key in ("norm.weight", "norm.bias", "fc_norm.weight", "fc_norm.bias"):
            name = key.removeprefix("fc_")
            if name in out:
                raise ValueError(f"{path}: both norm and fc_norm; cannot tell which ends the encoder")
            out[name] = value
        elif key in ("cls_token", "pos_embed"):
            continue
        else:
            match = re.fullmatch(r"blocks\.(\d+)\.(.+)", key)
            if match and match.group(2) in _BLOCK:
                out[f"encoder.layers.{match.group(1)}.{_BLOCK[match.group(2)]}"] = value
            else:
                unknown.append(key)
    if unknown:
        raise ValueError(f"{path}: not part of an Audio-MAE / timm ViT encoder: {unknown[:8]}")
    for key in ("cls_token", "pos_embed"):
        if key not in state:
            raise ValueError(f"{path}: no {key!r}: not an Audio-MAE checkpoint")
    pos = state["pos_embed"]  # [1, 1 + T * F, D], time-major
    out["cls_token"] = state["cls_token"] + pos[:, :1]
    tokens, dim = pos.shape[1] - 1, pos.shape[2]
    if tokens % source_freq_patches:
        raise ValueError(f"{path}: {tokens} positions are not a grid of {source_freq_patches} "
                         "frequency patches; set source_freq_patches")
    grid = pos[0, 1:].reshape(tokens // source_freq_patches, source_freq_patches, dim)
    out["pos_embed"] = grid.permute(2, 1, 0).unsqueeze(0).contiguous()
    return out, sorted({d.split(".")[0] for d in dropped})


def resize_positions(pos: Tensor, freq: int, time: int, path: str | Path = "<state>") -> Tensor:
    """``[1, D, F, T]`` positional table -> ``[1, D, freq, time]`` by bicubic interpolation
    (as AST / Audio-MAE fine-tuning do for another input size); said once in the log."""
    if tuple(pos.shape[-2:]) == (freq, time):
        return pos
    log.info("%s: positional embedding resized from %s (freq x time patches) to %s",
             path, tuple(pos.shape[-2:]), (freq, time))
    return F.interpolate(pos, size=(freq, time), mode="bicubic", align_corners=False)


def load_audio_mae(encoder: ASTEncoder, path: str | Path,
                   state: dict[str, Tensor] | None = None,
                   source_freq_patches: int | None = None) -> None:
    """Copy a published Audio-MAE encoder into ``encoder`` (its ``head``, if any, is kept).
    Every encoder tensor must come from the file with the same shape, except the positional
    table, which is resized to the encoder's grid. ``source_freq_patches`` is the file's
    frequency grid (default: 128 mel bins / the patch height when the positions fill such a
    grid, else the encoder's)."""
    state = read_audio_mae(path) if state is None else state
    if state is None:
        raise ValueError(f"{path}: not an Audio-MAE checkpoint (no 'model' dict with timm ViT "
                         "keys such as blocks.0.attn.qkv.weight)")
    if source_freq_patches is None:  # the published 128 bins, else the encoder's own
        published = PUBLISHED_MEL_BINS // state["patch_embed.proj.weight"].shape[-1]
        tokens = state["pos_embed"].shape[1] - 1
        source_freq_patches = published if tokens % published == 0 else encoder.freq_patches
    mapped, dropped = convert_audio_mae(state, source_freq_patches, path)
    mapped["pos_embed"] = resize_positions(mapped["pos_embed"], encoder.freq_patches,
                                           encoder.max_time_patches, path)
    own = {k: v for k, v in encoder.state_dict().items() if not k.startswith("head.")}
    missing = sorted(set(own) - set(mapped))
    unexpected = sorted(set(mapped) - set(own))
    wrong = [f"{k}: file {tuple(mapped[k].shape)} vs model {tuple(v.shape)}"
             for k, v in own.items() if k in mapped and mapped[k].shape != v.shape]
    if missing or unexpected or wrong:
        raise ValueError(f"{path}: does not fit this AST encoder (d_model, patch_size, "
                         f"num_layers, ffn_dim must match the file): missing {missing[:4]}, "
                         f"unexpected {unexpected[:4]}, shapes {wrong[:4]}")
    eps = encoder.norm.eps
    if eps != LAYER_NORM_EPS:
        log.warning("%s: Audio-MAE layer norms use eps %g, this encoder %g "
                    "(set layer_norm_eps: %g to compute exactly what it computes)",
                    path, LAYER_NORM_EPS, eps, LAYER_NORM_EPS)
    encoder.load_state_dict(mapped, strict=False)
    log.info("%s: imported %d Audio-MAE tensors, dropped %s", path, len(mapped),
             dropped or "nothing")


def export_audio_mae(encoder: ASTEncoder) -> dict[str, Tensor]:
    """The encoder's tensors in Audio-MAE's timm layout (``norm``, CLS position zero): the
    inverse of :func:`load_audio_mae` on the encoder's own grid."""
    out: dict[str, Tensor] = {}
    for key, value in encoder.state_dict().items():
        match = re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)", key)
        if match:
            out[f"blocks.{match.group(1)}.{_BLOCK_INVERSE[match.group(2)]}"] = value
        elif key.startswith("patch_embed."):
            name = key.replace("patch_embed.", "patch_embed.proj.")
            out[name] = value.transpose(2, 3) if value.dim() == 4 else value
        elif key.startswith("norm."):
            out[key] = value
    out["cls_token"] = encoder.cls_token.detach().clone()
    grid = encoder.pos_embed.detach()[0].permute(2, 1, 0)  # [T, F, D]
    pos = grid.reshape(1, -1, grid.shape[-1])
    out["pos_embed"] = torch.cat([torch.zeros_like(pos[:, :1]), pos], dim=1)
    return out
