"""Tempogram: the local autocorrelation of an onset envelope, a frame of lags per window.

A classifier of tempo needs the period of the beat, which a log-mel CNN with a receptive
field under a beat cannot see (and which it replaces with timbre cues that happen to go with
tempo in its training set). This frontend hands it the periodicity itself:

1. onset envelope: the positive log-mel flux, averaged over mel bins, per frame;
2. for windows of ``window_s`` every ``stride_s``, the normalised autocorrelation (Pearson
   correlation of the mean-removed envelope with itself ``lag`` frames later) for every lag
   from ``min_lag_s`` to ``max_lag_s``.

Output ``[B, windows, lags]``: a beat of period P shows as a ridge at lag P (and its
multiples). Lengths count the windows that fit in the valid frames (at least one: a short
clip is zero-padded to one window). Global CMVN as the other frontends (``stats_file``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.frontends.cmvn import GlobalCMVN
from audiokit.frontends.logmel import LogMel


class Tempogram(nn.Module):
    def __init__(self, sample_rate: int, n_mels: int = 64, win_ms: float = 25.0,
                 hop_ms: float = 10.0, window_s: float = 3.0, stride_s: float = 0.1,
                 min_lag_s: float = 0.2, max_lag_s: float = 1.6,
                 stats_file: str | None = None) -> None:
        super().__init__()
        if not 0 < min_lag_s < max_lag_s:
            raise ValueError(f"need 0 < min_lag_s < max_lag_s, got {min_lag_s}, {max_lag_s}")
        self.logmel = LogMel(sample_rate, n_mels, win_ms, hop_ms)
        frame_s = hop_ms / 1000
        self.window = max(2, round(window_s / frame_s))
        self.stride = max(1, round(stride_s / frame_s))
        self.min_lag, self.max_lag = round(min_lag_s / frame_s), round(max_lag_s / frame_s)
        self.output_dim = self.max_lag - self.min_lag + 1
        self.cmvn = GlobalCMVN(self.output_dim, stats_file)

    def onset_envelope(self, wav: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        """``[B, T]`` positive spectral flux (zero on padding) and the frame counts."""
        feats, feat_lens = self.logmel.extract(wav, lens)
        flux = F.relu(feats[:, 1:] - feats[:, :-1]).mean(-1)
        flux = F.pad(flux, (1, 0))
        valid = torch.arange(flux.size(1), device=flux.device)[None] < feat_lens[:, None]
        return flux * valid, feat_lens

    def extract(self, wav: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        env, feat_lens = self.onset_envelope(wav, lens)
        span = self.window + self.max_lag
        if env.size(1) < span:
            env = F.pad(env, (0, span - env.size(1)))
        frames = env.unfold(1, span, self.stride)                      # [B, N, span]
        frames = frames - frames.mean(-1, keepdim=True)
        base = frames[..., : self.window]
        scores = []
        for lag in range(self.min_lag, self.max_lag + 1):
            moved = frames[..., lag: lag + self.window]
            denom = torch.sqrt((base * base).sum(-1) * (moved * moved).sum(-1)).clamp_min(1e-8)
            scores.append((base * moved).sum(-1) / denom)
        out = torch.stack(scores, dim=-1)                              # [B, N, lags]
        out_lens = ((feat_lens - span).clamp_min(0) // self.stride + 1).clamp(max=out.size(1))
        valid = torch.arange(out.size(1), device=out.device)[None] < out_lens[:, None]
        return out * valid[..., None], out_lens

    def forward(self, wav: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        return self.cmvn(*self.extract(wav, lens))
