"""Audio Spectrogram Transformer (Gong et al. 2021), padding-aware; trained from scratch or
initialised from an Audio-MAE encoder (:mod:`audiokit.models.ssl.audio_mae`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.utils.masking import lengths_to_mask, masked_mean


def _num_patches(length: Tensor, patch: int, stride: int) -> Tensor:
    """Patches needed to cover ``length`` frames when the last patch may run into zero padding."""
    return torch.div((length - patch + stride - 1).clamp(min=0), stride, rounding_mode="floor") + 1


class ASTEncoder(nn.Module):
    """Patch embedding, positional embedding, CLS token and transformer of the AST, without a
    head: shared by :class:`ASTClassifier` and the Audio-MAE encoder, so pre-trained weights
    map one to one.

    Every utterance is zero-padded to whole patches, so a patch that overlaps the end of an
    utterance sees zeros there whether or not the batch is padded further; patches beyond that
    are padding. Tokens are frequency-major: token ``f * time + t``.
    """

    def __init__(
        self,
        input_dim: int,
        patch_size: Sequence[int] = (16, 16),
        patch_stride: Sequence[int] = (16, 16),
        d_model: int = 192,
        num_layers: int = 4,
        num_heads: int = 4,
        ffn_dim: int = 768,
        dropout: float = 0.1,
        max_frames: int = 256,
        layer_norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.patch_size = tuple(patch_size)
        self.patch_stride = tuple(patch_stride)
        self.max_frames = max_frames
        self.d_model = d_model
        (patch_f, patch_t), (stride_f, stride_t) = self.patch_size, self.patch_stride
        self.freq_patches = int(_num_patches(torch.tensor(input_dim), patch_f, stride_f))
        self.max_time_patches = int(_num_patches(torch.tensor(max_frames), patch_t, stride_t))

        self.patch_embed = nn.Conv2d(1, d_model, self.patch_size, self.patch_stride)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
        # Laid out like the patch-embedding output [1, D, freq, time] so the time axis can be sliced.
        self.pos_embed = nn.Parameter(
            torch.zeros(1, d_model, self.freq_patches, self.max_time_patches))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

        layer = nn.TransformerEncoderLayer(
            d_model,
            num_heads,
            ffn_dim,
            dropout,
            activation="gelu",
            layer_norm_eps=layer_norm_eps,
            batch_first=True,
            norm_first=True,
        )
        # Nested tensors do not support pre-norm layers; disabling avoids a warning, not a speedup.
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model, eps=layer_norm_eps)

    def patch_input(self, feats: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        """``feats`` [B, T, F], ``lens`` [B] -> (zero-padded input [B, 1, F', T'] covered by
        whole patches, valid time patches per utterance [B])."""
        if feats.shape[-1] != self.input_dim:
            raise ValueError(f"expected {self.input_dim} feature bins, got {feats.shape[-1]}")
        num_frames = int(lens.max())
        if num_frames > self.max_frames:
            raise ValueError(
                f"input has {num_frames} frames but the model was built with "
                f"max_frames={self.max_frames}; raise max_frames in the model config"
            )
        # Extra batch padding beyond the longest utterance carries no information.
        feats = feats[:, :num_frames]
        frame_mask = lengths_to_mask(lens, num_frames)
        x = feats.masked_fill(~frame_mask.unsqueeze(-1), 0.0).transpose(1, 2).unsqueeze(1)

        (patch_f, patch_t), (stride_f, stride_t) = self.patch_size, self.patch_stride
        patch_lens = _num_patches(lens, patch_t, stride_t)
        time_patches = int(patch_lens.max())
        pad_f = (self.freq_patches - 1) * stride_f + patch_f - self.input_dim
        pad_t = (time_patches - 1) * stride_t + patch_t - num_frames
        return F.pad(x, (0, pad_t, 0, pad_f)), patch_lens

    def embed(self, x: Tensor, patch_lens: Tensor) -> tuple[Tensor, Tensor]:
        """Padded input [B, 1, F', T'] -> (tokens with positions [B, N, D], padding [B, N])."""
        time_patches = int(patch_lens.max())
        x = self.patch_embed(x) + self.pos_embed[..., :time_patches]  # [B, D, freq, time]
        x = x.flatten(2).transpose(1, 2)  # [B, freq * time, D], frequency-major
        # Token f * time + t is padding iff t >= patch_lens[b], for every frequency row f.
        padding = ~lengths_to_mask(patch_lens, time_patches).repeat(1, self.freq_patches)
        return x, padding

    def encode(self, tokens: Tensor, padding: Tensor) -> Tensor:
        """Tokens [B, N, D] (``padding`` [B, N] True = left out of attention) -> the normalised
        outputs [B, 1 + N, D], the CLS token's first."""
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        x = torch.cat([cls, tokens], dim=1)
        padding = F.pad(padding, (1, 0), value=False)  # the CLS token is always attended to
        return self.norm(self.encoder(x, src_key_padding_mask=padding))

    def freeze(self, freeze: str | int) -> None:
        """Stop gradients to the encoder: ``"none"``, ``"all"`` or the first N blocks."""
        if freeze == "none":
            return
        num_layers = len(self.encoder.layers)
        if freeze == "all":
            blocks = num_layers
        elif isinstance(freeze, int) and not isinstance(freeze, bool) and 0 <= freeze <= num_layers:
            blocks = freeze
        else:
            raise ValueError(f"freeze must be 'none', 'all' or a block count 0..{num_layers}, "
                             f"got {freeze!r}")
        frozen = [self.patch_embed, *self.encoder.layers[:blocks]]
        if blocks == num_layers:
            frozen.append(self.norm)
        for module in frozen:
            module.requires_grad_(False)
        self.cls_token.requires_grad_(False)
        self.pos_embed.requires_grad_(False)


class ASTClassifier(ASTEncoder):
    """Transformer over (possibly overlapping) spectrogram patches, classified from a CLS token.

    Patches beyond an utterance's end are masked out of attention, so batch padding never
    changes an utterance's logits.

    Args:
        input_dim: feature bins per frame (F), e.g. 80 mel bins.
        num_classes: number of output classes.
        patch_size: (frequency, time) size of a patch in bins x frames.
        patch_stride: (frequency, time) hop between patches; smaller than the size = overlap.
        d_model: token width.
        num_layers: transformer encoder layers.
        num_heads: attention heads.
        ffn_dim: hidden width of each feed-forward block.
        dropout: dropout inside the encoder layers.
        max_frames: longest input (in frames) the positional embedding covers.
        pretrained: a ``model.pt`` of an Audio-MAE experiment (``audiokit.tasks.
            masked_pretraining``) whose encoder initialises everything but the head; read with
            :func:`audiokit.inference.loading.read_model_file` (weights only, allowlisted).
            Or a published Audio-MAE checkpoint (facebookresearch/AudioMAE, timm ViT keys),
            imported by :mod:`audiokit.models.ssl.audio_mae_import`.
        freeze: ``"none"`` trains everything; ``"all"`` freezes the encoder (only the head
            learns); an integer N freezes the patch and positional embeddings, the CLS token
            and the first N transformer blocks.
        pool: what the head reads: ``"cls"`` (the CLS token's output) or ``"mean"`` (the mean
            output over the utterance's patches; an MAE trains no CLS summary, so MAE
            fine-tuning usually pools this way).
        layer_norm_eps: eps of every layer norm (published Audio-MAE models use 1e-6).
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        patch_size: Sequence[int] = (16, 16),
        patch_stride: Sequence[int] = (16, 16),
        d_model: int = 192,
        num_layers: int = 4,
        num_heads: int = 4,
        ffn_dim: int = 768,
        dropout: float = 0.1,
        max_frames: int = 256,
        pretrained: str | Path | None = None,
        freeze: str | int = "none",
        pool: str = "cls",
        layer_norm_eps: float = 1e-5,
    ) -> None:
        super().__init__(input_dim, patch_size, patch_stride, d_model, num_layers, num_heads,
                         ffn_dim, dropout, max_frames, layer_norm_eps)
        if pool not in ("cls", "mean"):
            raise ValueError(f"pool must be 'cls' or 'mean', got {pool!r}")
        self.pool = pool
        self.head = nn.Linear(d_model, num_classes)
        if pretrained is not None:
            self.load_encoder(pretrained)
        self.freeze(freeze)

    def load_encoder(self, path: str | Path) -> None:
        """Copy the encoder of an Audio-MAE ``model.pt`` (or a published Audio-MAE file) into
        this model (not the head)."""
        load_pretrained_encoder(self, path)

    def forward(self, feats: Tensor, lens: Tensor) -> Tensor:
        """``feats`` [B, T, F] (frames ``t >= lens[b]`` are padding), ``lens`` [B] -> [B, C]."""
        x, patch_lens = self.patch_input(feats, lens)
        tokens, padding = self.embed(x, patch_lens)
        out = self.encode(tokens, padding)
        if self.pool == "cls":
            return self.head(out[:, 0])
        return self.head(masked_mean(out[:, 1:], ~padding.unsqueeze(-1), dim=1))


def load_pretrained_encoder(model: ASTEncoder, path: str | Path) -> None:
    """Copy the AST encoder of a pretraining ``model.pt`` (an Audio-MAE, or any pretraining
    model that keeps its :class:`ASTEncoder` as ``model.encoder``) or of a published Audio-MAE
    file into ``model``, an :class:`ASTEncoder` or a subclass; a ``head`` is left as it is."""
    from audiokit.inference.loading import read_model_file
    from audiokit.models.ssl.audio_mae_import import load_audio_mae, read_audio_mae

    published = read_audio_mae(path)
    if published is not None:
        load_audio_mae(model, path, published)
        return
    state = read_model_file(path).get("state_dict")
    prefix = "model.encoder."
    if not isinstance(state, dict) or not any(k.startswith(prefix) for k in state):
        raise ValueError(f"{path}: no '{prefix}*' weights; model.pretrained must be the "
                         "model.pt of an Audio-MAE pretraining experiment")
    encoder = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    own = {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}
    missing = sorted(set(own) - set(encoder))
    wrong = [f"{k} {tuple(encoder[k].shape)} vs {tuple(v.shape)}"
             for k, v in own.items() if k in encoder and encoder[k].shape != v.shape]
    if missing or wrong:
        raise ValueError(f"{path}: encoder does not match this AST (the patch size, width, "
                         f"layers and max_frames must be the same); missing "
                         f"{missing[:3]}, shapes {wrong[:3]}")
    model.load_state_dict({k: encoder[k] for k in own}, strict=False)
