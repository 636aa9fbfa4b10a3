"""Pretrained encoders as feature "upstreams" (SUPERB's word): each maps a waveform batch to
the hidden states of all its layers, one vector per output frame,

    ``hidden_states(wav [B, T], lens [B]) -> ([h_0, ..., h_L] each [B, T', D], lens' [B])``

with ``h_0`` the transformer's input and padding frames zeroed; ``num_hidden`` (= L + 1) and
``output_dim`` (= D) say what comes out. :class:`audiokit.frontends.ssl_features.SSLFeatures`
picks a layer or a learned weighted sum of them for any task.

- :class:`ASTUpstream`: an AST encoder behind its own log-mel frontend, from an audiokit
  Audio-MAE / AST experiment (``model.pt``) or a published Audio-MAE checkpoint;
- :class:`BEATsUpstream`: :class:`~audiokit.models.ssl.beats.BEATs`;
- :class:`Wav2Vec2Upstream`: wav2vec 2.0 / HuBERT / WavLM (fairseq or Hugging Face files).

Patch-based encoders (AST, BEATs) give one frame per time patch: the mean of its frequency
patches. The architecture is in the config, the weights in ``pretrained``: a task trained on
these features saves the upstream's weights with its own, so ``audiokit-infer`` rebuilds it
from the config alone (``pretrained`` is not read again).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torchaudio
from torch import Tensor, nn
from torchaudio.compliance import kaldi
from torchaudio.models.wav2vec2.wavlm_attention import WavLMSelfAttention

from audiokit.frontends.fbank import INT16_SCALE
from audiokit.frontends.framing import num_frames, zero_padding
from audiokit.models.asr.wav2vec2 import SAMPLE_RATE as W2V_RATE
from audiokit.models.asr.wav2vec2 import Wav2Vec2Encoder
from audiokit.models.classification.ast import ASTEncoder
from audiokit.models.ssl.audio_mae_import import (
    AUDIOSET_MEAN,
    AUDIOSET_STD,
    PUBLISHED_MEL_BINS,
    load_audio_mae,
    read_audio_mae,
)
from audiokit.models.ssl.beats import BEATs
from audiokit.utils.masking import lengths_to_mask

log = logging.getLogger(__name__)


def _resample(wav: Tensor, lens: Tensor, orig: int, new: int) -> tuple[Tensor, Tensor]:
    if orig == new:
        return wav, lens
    out = torchaudio.functional.resample(wav, orig, new)
    return out, torch.div(lens * new + orig - 1, orig, rounding_mode="floor").clamp(max=out.shape[1])


class AudioMAEFbank(nn.Module):
    """The published Audio-MAE input: 16 kHz Kaldi fbank, 128 bins, Hanning window, HTK
    compatible, 10 ms hop, ``(fbank - mean) / (2 * std)`` with the AudioSet statistics."""

    def __init__(self, sample_rate: int = W2V_RATE, n_mels: int = PUBLISHED_MEL_BINS,
                 mean: float = AUDIOSET_MEAN, std: float = AUDIOSET_STD) -> None:
        super().__init__()
        self.sample_rate, self.n_mels, self.mean, self.std = sample_rate, n_mels, mean, std
        self.output_dim = n_mels

    def forward(self, wav: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        wav, lens = _resample(wav, lens, self.sample_rate, 16000)
        feat_lens = num_frames(lens, 400, 160)
        feats = wav.new_zeros(wav.shape[0], max(int(feat_lens.max()), 1), self.n_mels)
        for b, (n, frames) in enumerate(zip(lens.tolist(), feat_lens.tolist(), strict=True)):
            if frames == 0:
                continue
            x = wav[b : b + 1, :n]
            x = x - x.mean()  # the published data loader removes the mean first
            feats[b, :frames] = kaldi.fbank(x * INT16_SCALE, htk_compat=True, sample_frequency=16000,
                                            use_energy=False, window_type="hanning",
                                            num_mel_bins=self.n_mels, dither=0.0, frame_shift=10)
        return zero_padding((feats - self.mean) / (2 * self.std), feat_lens), feat_lens


class ASTUpstream(nn.Module):
    """An AST encoder over its own frontend's features.

    Args:
        frontend: the features the encoder was trained on (e.g. the ``logmel`` of the MAE
            experiment, ``stats_file: null``: its CMVN statistics come from ``pretrained``;
            :class:`AudioMAEFbank` for a published Audio-MAE).
        patch_size ... layer_norm_eps: the encoder, as in
            :class:`~audiokit.models.classification.ast.ASTEncoder`; must match ``pretrained``.
        pretrained: an audiokit experiment dir or its ``model.pt`` (Audio-MAE pretraining or an
            AST classifier: its frontend state and encoder are loaded, the head is not), or a
            published Audio-MAE checkpoint.
    """

    def __init__(self, frontend: nn.Module, patch_size: Sequence[int] = (16, 16),
                 patch_stride: Sequence[int] = (16, 16), d_model: int = 192,
                 num_layers: int = 4, num_heads: int = 4, ffn_dim: int = 768,
                 max_frames: int = 256, layer_norm_eps: float = 1e-5,
                 pretrained: str | Path | None = None) -> None:
        super().__init__()
        self.frontend = frontend
        self.encoder = ASTEncoder(frontend.output_dim, patch_size, patch_stride, d_model,
                                  num_layers, num_heads, ffn_dim, 0.0, max_frames, layer_norm_eps)
        self.output_dim, self.num_hidden = d_model, num_layers + 1
        if pretrained is not None:
            self.load(Path(pretrained))

    def load(self, path: Path) -> None:
        from audiokit.inference.loading import MODEL_FILE, read_model_file

        path = path / MODEL_FILE if path.is_dir() else path
        published = read_audio_mae(path)
        if published is not None:
            load_audio_mae(self.encoder, path, published)
            return
        saved = read_model_file(path)
        state = saved.get("state_dict") or {}
        self._check_hparams(saved.get("hparams") or {}, path)
        prefix = next((p for p in ("model.encoder.", "model.")
                       if any(k.startswith(p + "encoder.layers.") for k in state)), None)
        if prefix is None:
            raise ValueError(f"{path}: no AST encoder weights (model.encoder.* of an Audio-MAE "
                             "or model.* of an AST classifier)")
        encoder = {k[len(prefix):]: v for k, v in state.items()
                   if k.startswith(prefix) and not k.startswith(prefix + "head.")}
        missing, unexpected = self.encoder.load_state_dict(encoder, strict=False)
        wrong = [k for k, v in self.encoder.state_dict().items()
                 if k in encoder and encoder[k].shape != v.shape]
        if missing or unexpected or wrong:
            raise ValueError(f"{path}: the encoder does not match this config: missing "
                             f"{missing[:4]}, unexpected {unexpected[:4]}, shapes {wrong[:4]}")
        front = {k[len("frontend."):]: v for k, v in state.items() if k.startswith("frontend.")}
        self.frontend.load_state_dict(front, strict=True)
        log.info("%s: AST encoder (%s*) and frontend state loaded", path, prefix)

    def _check_hparams(self, hparams: dict, path: Path) -> None:
        """Settings the weights' shapes cannot reveal (heads, hop) must match the file's."""
        model, front = hparams.get("model") or {}, hparams.get("frontend") or {}
        attn = self.encoder.encoder.layers[0].self_attn
        mine = {"num_heads": attn.num_heads, "d_model": self.encoder.d_model,
                "patch_size": list(self.encoder.patch_size),
                "patch_stride": list(self.encoder.patch_stride),
                "max_frames": self.encoder.max_frames}
        diff = [f"model.{k}: config {v} vs file {model[k]}" for k, v in mine.items()
                if k in model and _plain(model[k]) != v]
        for key in ("hop_length", "win_length"):  # frontend attributes vs the file's ms
            ms = front.get(key.replace("_length", "_ms"))
            sr = front.get("sample_rate")
            if ms is not None and isinstance(sr, int) and hasattr(self.frontend, key):
                if int(sr * ms * 0.001) != getattr(self.frontend, key):
                    diff.append(f"frontend.{key.replace('_length', '_ms')}: file {ms} ms at {sr} Hz")
        if front.get("n_mels") not in (None, self.frontend.output_dim):
            diff.append(f"frontend.n_mels: config {self.frontend.output_dim} vs file {front['n_mels']}")
        if diff:
            raise ValueError(f"{path}: the experiment's settings differ from this upstream "
                             f"config: {'; '.join(diff)}")

    def hidden_states(self, wav: Tensor, lens: Tensor) -> tuple[list[Tensor], Tensor]:
        feats, feat_lens = self.frontend(wav, lens)
        enc = self.encoder
        x, patch_lens = enc.patch_input(feats, feat_lens)
        tokens, padding = enc.embed(x, patch_lens)
        h = torch.cat([enc.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        key_padding = nn.functional.pad(padding, (1, 0), value=False)
        hidden = [h]
        for layer in enc.encoder.layers:
            hidden.append(layer(hidden[-1], src_key_padding_mask=key_padding))
        hidden[-1] = enc.norm(hidden[-1])
        time = int(patch_lens.max())
        valid = lengths_to_mask(patch_lens, time).unsqueeze(-1)
        # drop CLS; tokens are frequency-major: [B, F' * T', D] -> mean over F'
        frames = [s[:, 1:].unflatten(1, (enc.freq_patches, time)).mean(1).masked_fill(~valid, 0.0)
                  for s in hidden]
        return frames, patch_lens


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else value


class BEATsUpstream(BEATs):
    """:class:`~audiokit.models.ssl.beats.BEATs` (same arguments and weights), one frame per
    time patch (160 ms with 16x16 patches)."""

    @property
    def num_hidden(self) -> int:
        return self.num_layers + 1

    def hidden_states(self, wav: Tensor, lens: Tensor) -> tuple[list[Tensor], Tensor]:
        hidden, token_lens = self(wav, lens)
        frames = [self.to_frames(h, token_lens)[0] for h in hidden]
        return frames, token_lens // self.freq_patches


class Wav2Vec2Upstream(Wav2Vec2Encoder):
    """:class:`~audiokit.models.asr.wav2vec2.Wav2Vec2Encoder` (same arguments), every
    transformer layer's output (20 ms per frame for released models). Input at another sample
    rate is resampled to ``model_sample_rate`` (16 kHz unless an audiokit HuBERT pretraining
    says otherwise); ``normalize`` (default: what the checkpoint says, else off) standardises each
    waveform as wav2vec 2.0 large models expect. No layer drop or time masking here."""

    def __init__(self, sample_rate: int = W2V_RATE, normalize: bool | None = None,
                 **kwargs: Any) -> None:
        super().__init__(input_dim=1, **kwargs)
        self.input_rate = sample_rate
        self.normalize = normalize if normalize is not None else bool(self.pretrained_normalize)
        self.num_hidden = len(self.model.encoder.transformer.layers) + 1

    def hidden_states(self, wav: Tensor, lens: Tensor) -> tuple[list[Tensor], Tensor]:
        from audiokit.frontends.raw import RawWaveform

        wav, lens = _resample(wav, lens, self.input_rate, self.model_sample_rate)
        feats, lens = RawWaveform(self.normalize)(wav, lens)
        x, h_lens = self.model.feature_extractor(feats.squeeze(-1), lens)
        x, attention_mask = self.model.encoder._preprocess(x, h_lens)
        transformer = self.model.encoder.transformer
        x = transformer._preprocess(x)  # positional conv (+ layer norm for post-LN models)
        valid = lengths_to_mask(h_lens, x.size(1)).unsqueeze(-1)
        wavlm = isinstance(transformer.layers[0].attention, WavLMSelfAttention)
        # WavLM layers take the padding as an additive key mask (see Wav2Vec2Encoder)
        key_padding = (~valid.squeeze(-1)).to(x.dtype) * -10000.0 if wavlm else None
        hidden, bias = [x], None
        for layer in transformer.layers:
            if wavlm:
                x, bias = layer(x, None, bias, key_padding_mask=key_padding)
            else:
                x, bias = layer(x, attention_mask, bias)
            hidden.append(x)
        if transformer.layer_norm_first:
            hidden[-1] = transformer.layer_norm(hidden[-1])
        return [h.masked_fill(~valid, 0.0) for h in hidden], h_lens
