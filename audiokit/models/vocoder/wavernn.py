"""WaveRNN vocoder (Kalchbrenner et al. 2018; the single-GRU variant of open implementations):
an autoregressive GRU over samples, conditioned on upsampled log-mel features.

Output: ``softmax`` over ``2 ** bits`` mu-law classes (cross-entropy), or ``gaussian``: one
Gaussian per sample (negative log-likelihood of the waveform). Training is teacher-forced:
``forward(feats, target)`` returns ``{"audio": None, "losses": {"nll": ...}}`` (the GAN
task's generator contract, with ``needs_target``; train it with ``discriminator: null``).
``forward(feats)`` generates, batched and folded: each utterance's conditioning is cut into
folds of ``fold_frames`` frames (plus ``overlap_frames`` of warm-up), all folds are sampled
in one batch, and the folds are cross-faded back together (:func:`fold`, :func:`unfold`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def mu_law_encode(x: Tensor, classes: int) -> Tensor:
    """[-1, 1] -> class indices 0 .. classes - 1 (as torchaudio.functional.mu_law_encoding)."""
    mu = classes - 1
    y = torch.sign(x) * torch.log1p(mu * x.clamp(-1, 1).abs()) / math.log1p(mu)
    return ((y + 1) / 2 * mu + 0.5).long()


def mu_law_decode(c: Tensor, classes: int) -> Tensor:
    mu = classes - 1
    y = c.float() / mu * 2 - 1
    return torch.sign(y) * (torch.pow(1 + mu, y.abs()) - 1) / mu


def fold(x: Tensor, length: int, overlap: int) -> Tensor:
    """[B, T, ...] -> [B * n, length + overlap, ...]: fold k covers [k * length, (k + 1) *
    length + overlap), n = ceil(T / length); the end is zero-padded."""
    b, t = x.shape[:2]
    n = max(1, -(-t // length))
    pad = n * length + overlap - t
    x = F.pad(x.movedim(1, -1), (0, pad)).movedim(-1, 1)
    folds = [x[:, k * length : (k + 1) * length + overlap] for k in range(n)]
    return torch.stack(folds, 1).reshape(b * n, length + overlap, *x.shape[2:])


def unfold(y: Tensor, batch: int, length: int, overlap: int, total: int) -> Tensor:
    """Inverse of :func:`fold` for [B * n, length + overlap]: fold k's first ``overlap``
    samples cross-fade linearly with fold k-1's last ones; cut to ``total``."""
    n = y.size(0) // batch
    y = y.reshape(batch, n, length + overlap)
    out = y.new_zeros(batch, n * length + overlap)
    fade_in = torch.linspace(0, 1, overlap + 2, device=y.device)[1:-1] if overlap else None
    for k in range(n):
        seg = y[:, k].clone()
        if overlap and k > 0:
            seg[:, :overlap] *= fade_in
            out[:, k * length : k * length + overlap] *= 1 - fade_in
        out[:, k * length : k * length + length + overlap] += seg
    return out[:, :total]


class WaveRNN(nn.Module):
    needs_target = True  # training needs the waveform (teacher forcing)

    def __init__(self, in_channels: int = 80, hop_length: int = 80, output: str = "softmax",
                 bits: int = 9, rnn_dims: int = 256, fc_dims: int = 256, cond_dims: int = 64,
                 fold_frames: int = 25, overlap_frames: int = 2) -> None:
        super().__init__()
        if output not in ("softmax", "gaussian"):
            raise ValueError(f"WaveRNN output must be 'softmax' or 'gaussian', got {output!r}")
        self.output, self.classes = output, 2 ** bits
        self.hop_length = hop_length
        self.fold_frames, self.overlap_frames = fold_frames, overlap_frames
        self.cond = nn.Conv1d(in_channels, cond_dims, 5, padding=2)
        self.inp = nn.Linear(cond_dims + 1, rnn_dims)
        self.rnn = nn.GRU(rnn_dims, rnn_dims, batch_first=True)
        self.fc1 = nn.Linear(rnn_dims + cond_dims, fc_dims)
        self.fc2 = nn.Linear(fc_dims, self.classes if output == "softmax" else 2)

    def conditioning(self, feats: Tensor) -> Tensor:
        """[B, frames, in] -> [B, frames * hop, cond] (each frame repeated over its hop)."""
        c = torch.tanh(self.cond(feats.transpose(1, 2))).transpose(1, 2)
        return c.repeat_interleave(self.hop_length, dim=1)

    def _head(self, h: Tensor, c: Tensor) -> Tensor:
        return self.fc2(F.relu(self.fc1(torch.cat([h, c], -1))))

    def forward(self, feats: Tensor, target: Tensor | None = None):
        cond = self.conditioning(feats)
        if target is None:
            return self.generate(cond)
        target = target[:, : cond.size(1)].float()
        if self.output == "softmax":
            classes = mu_law_encode(target, self.classes)
            value = mu_law_decode(classes, self.classes)
        else:
            value = target.clamp(-1, 1)
        prev = F.pad(value, (1, 0))[:, :-1]  # the sample before each one (0 at the start)
        h, _ = self.rnn(self.inp(torch.cat([prev.unsqueeze(-1), cond], -1)))
        out = self._head(h, cond).float()
        if self.output == "softmax":
            nll = F.cross_entropy(out.transpose(1, 2), classes)
        else:
            mean, log_std = out[..., 0], out[..., 1].clamp(min=-7.0)
            nll = (log_std + 0.5 * ((value - mean) / log_std.exp()) ** 2
                   + 0.5 * math.log(2 * math.pi)).mean()
        return {"audio": None, "losses": {"nll": nll}}

    @torch.no_grad()
    def generate(self, cond: Tensor) -> Tensor:
        """Sample a waveform [B, T] from conditioning [B, T, cond], folds batched."""
        batch, total = cond.shape[:2]
        length = self.fold_frames * self.hop_length
        overlap = self.overlap_frames * self.hop_length
        folds = fold(cond, length, overlap)
        x = folds.new_zeros(folds.size(0), 1)
        h = None
        samples = []
        for t in range(folds.size(1)):
            c = folds[:, t]
            out, h = self.rnn(self.inp(torch.cat([x, c], -1)).unsqueeze(1), h)
            o = self._head(out[:, 0], c).float()
            if self.output == "softmax":
                x = mu_law_decode(torch.multinomial(o.softmax(-1), 1), self.classes)
            else:
                x = (o[:, :1] + o[:, 1:].clamp(min=-7.0).exp() * torch.randn_like(o[:, :1])).clamp(-1, 1)
            samples.append(x)
        return unfold(torch.cat(samples, 1), batch, length, overlap, total)
