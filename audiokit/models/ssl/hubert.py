"""HuBERT-style masked prediction (Hsu et al. 2021) on the raw waveform, built from
torchaudio's wav2vec 2.0 components: the convolutional feature encoder and transformer of
``torchaudio.models.wav2vec2_model`` and torchaudio's span ``MaskGenerator``.

Spans of the feature-encoder frames are replaced by a learned mask embedding; the transformer
output of every frame is projected and compared (cosine similarity / temperature) with one
embedding per k-means cluster; the loss is the cross-entropy of the frame's cluster id over
the masked frames (``unmasked_weight`` > 0 adds the unmasked frames' term).

Frame rate. Targets come one per 10 ms (Kaldi MFCC frames, 25 ms window, 10 ms shift, first
window at sample 0; :mod:`audiokit.models.ssl.kmeans_targets`). The feature encoder of
:data:`FSDD_ARCH` strides by 5 * 2 * 2 * 2 * 2 = 80 samples = 10 ms at 8 kHz, and its frame
``i`` starts at sample ``80 i`` too, so frame ``i`` and label ``i`` cover the same start; the
encoder's receptive field (100 samples) is shorter than the MFCC window (200), so it has one
or two frames more at the end, which get no label (:func:`align_labels` pads them with
``IGNORE``). Iteration 2's targets come from this model's own layers, one per encoder frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchaudio.models.wav2vec2.components import MaskGenerator

from audiokit.models.asr.wav2vec2 import build_model
from audiokit.utils.masking import lengths_to_mask

IGNORE = -100  # label of frames without a target (padding, the encoder's extra end frames)


def conv_frames(lens: Tensor, conv_layers: Sequence[Sequence[int]]) -> Tensor:
    """Frames the feature encoder makes of ``lens`` samples (no padding, as torchaudio)."""
    for _, kernel, stride in conv_layers:
        lens = torch.div(lens - kernel, stride, rounding_mode="floor") + 1
    return lens.clamp(min=0)


def align_labels(labels: Sequence[Tensor], frame_lens: Tensor, max_extra: int = 2,
                 ids: Sequence[str] | None = None) -> Tensor:
    """Per-utterance label sequences -> [B, max(frame_lens)] with ``IGNORE`` past each
    sequence's end. An utterance may have up to ``max_extra`` frames more than labels (the
    encoder's tail, see the module doc) but never fewer; any other mismatch means the target
    frame rate is not the encoder's, an error naming the utterance."""
    out = torch.full((len(labels), int(frame_lens.max())), IGNORE, dtype=torch.long)
    for i, (lab, n) in enumerate(zip(labels, frame_lens.tolist(), strict=True)):
        if not 0 <= n - len(lab) <= max_extra:
            name = ids[i] if ids is not None else f"#{i}"
            raise ValueError(f"utterance '{name}': {len(lab)} target labels for {n} encoder "
                             f"frames (expected {n - max_extra} to {n}): targets at another "
                             "frame rate than the encoder's?")
        out[i, : len(lab)] = lab
    return out


def masked_prediction_loss(logits: Tensor, labels: Tensor, masked: Tensor,
                           unmasked_weight: float = 0.0) -> dict[str, Tensor]:
    """Cross-entropy over the masked frames (mean over frames), plus ``unmasked_weight`` x the
    same over the unmasked frames. ``logits`` [B, T, C], ``labels`` [B, T] (``IGNORE`` = no
    target: padding), ``masked`` [B, T] bool. Returns ``loss``, ``loss_m``, ``loss_u``,
    ``acc_m`` (masked frames whose arg-max is the label)."""
    valid = labels != IGNORE
    parts = {}
    for name, sel in (("m", masked & valid), ("u", ~masked & valid)):
        if sel.any():
            parts[f"loss_{name}"] = F.cross_entropy(logits[sel].float(), labels[sel])
        else:
            parts[f"loss_{name}"] = logits.sum() * 0.0
    sel = masked & valid
    parts["acc_m"] = ((logits[sel].argmax(-1) == labels[sel]).float().mean() if sel.any()
                      else logits.new_zeros(()))
    loss = parts["loss_m"] + unmasked_weight * parts["loss_u"] if unmasked_weight else parts["loss_m"]
    return {"loss": loss, **parts}


class HuBERTPretrain(nn.Module):
    """waveform [B, T, 1] + frame labels -> masked prediction loss.

    Args:
        input_dim: must be 1 (``frontend=raw``).
        arch: ``torchaudio.models.wav2vec2_model`` kwargs (dropouts default to 0), the same
            dict that :class:`~audiokit.models.asr.wav2vec2.Wav2Vec2Encoder` takes as ``arch``
            to fine-tune this model (``model.encoder.pretrained`` = the pretraining exp dir).
        num_classes: k-means clusters of the targets.
        final_dim: size of the projection compared with the cluster embeddings.
        mask_prob, mask_length: torchaudio ``MaskGenerator`` spans (``mask_prob x T /
            mask_length`` span starts, overlaps allowed; HuBERT: 0.8 and 10).
        unmasked_weight: weight of the unmasked frames' loss (HuBERT: 0).
        logit_temperature: cosine similarities are divided by this (HuBERT: 0.1).
    """

    def __init__(self, input_dim: int = 1, arch: Mapping[str, Any] | None = None,
                 num_classes: int = 100, final_dim: int = 64, mask_prob: float = 0.8,
                 mask_length: int = 10, unmasked_weight: float = 0.0,
                 logit_temperature: float = 0.1) -> None:
        super().__init__()
        if input_dim != 1:
            raise ValueError(f"HuBERTPretrain reads raw waveforms (frontend=raw, input_dim 1), "
                             f"got input_dim={input_dim}")
        if not isinstance(arch, Mapping):
            raise ValueError("HuBERTPretrain: arch must be a dict of wav2vec2_model kwargs")
        self.conv_layers = [tuple(c) for c in arch["extractor_conv_layer_config"]]
        self.wav2vec2 = build_model(arch, {})
        dim = self.wav2vec2.encoder.feature_projection.projection.out_features
        self.mask = MaskGenerator(dim, mask_prob, "static", 0.0, mask_length, False, 1,
                                  0.0, "static", 0.0, 0, False, 0)
        self.final_proj = nn.Linear(dim, final_dim)
        self.label_embeddings = nn.Parameter(torch.randn(num_classes, final_dim))
        self.num_classes, self.unmasked_weight = num_classes, unmasked_weight
        self.temperature = logit_temperature

    def frame_lengths(self, lens: Tensor) -> Tensor:
        return conv_frames(lens, self.conv_layers)

    def encode(self, wav: Tensor, lens: Tensor, mask: bool) -> tuple[Tensor, Tensor, Tensor | None]:
        """(transformer output [B, T', D], frame lengths, masked frames [B, T'] or None)."""
        x, h_lens = self.wav2vec2.feature_extractor(wav.squeeze(-1), lens)
        x, attention_mask = self.wav2vec2.encoder._preprocess(x, h_lens)
        valid = lengths_to_mask(h_lens, x.size(1))
        masked = None
        if mask:
            x, masked = self.mask(x, ~valid)
            masked = masked & valid
        x = self.wav2vec2.encoder.transformer(x, attention_mask)
        return x, h_lens, masked

    def logits(self, hidden: Tensor) -> Tensor:
        proj = F.normalize(self.final_proj(hidden), dim=-1)
        return proj @ F.normalize(self.label_embeddings, dim=-1).T / self.temperature

    def forward(self, feats: Tensor, lens: Tensor, labels: Sequence[Tensor],
                ids: Sequence[str] | None = None, seed: int | None = None) -> dict[str, Tensor]:
        """``labels``: one LongTensor of cluster ids per utterance (see :func:`align_labels`).
        ``seed`` fixes the masks (torchaudio draws them from torch's global CPU generator; it
        is forked here, so the training's random stream is left as it was)."""
        if feats.dim() != 3 or feats.size(-1) != 1:
            raise ValueError(f"HuBERTPretrain expects raw waveforms [B, T, 1], got {list(feats.shape)}")
        if seed is None:
            hidden, h_lens, masked = self.encode(feats, lens, mask=True)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                hidden, h_lens, masked = self.encode(feats, lens, mask=True)
        targets = align_labels(labels, h_lens, ids=ids).to(feats.device)
        if int(targets.max()) >= self.num_classes:
            raise ValueError(f"target label {int(targets.max())} >= num_classes={self.num_classes}")
        out = masked_prediction_loss(self.logits(hidden), targets[:, : hidden.size(1)], masked,
                                     self.unmasked_weight)
        out["mask_share"] = masked.sum() / h_lens.sum().clamp(min=1)
        return out
