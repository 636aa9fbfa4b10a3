"""SEANet + RVQ neural audio codec (SoundStream / EnCodec): waveform -> integer codes -> waveform.

Bitrate = frame rate x sum of log2(codebook size) over the codebooks used; one model trained
with quantizer dropout serves every bandwidth in ``bandwidths`` (kbps), each mapped to a number
of codebooks ``n_q``. The GAN task calls ``forward(wav [B, T])`` and adds ``losses`` (the
commitment loss) with the weights of its config.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from audiokit.models.codec.rvq import ResidualVectorQuantizer
from audiokit.models.codec.seanet import SEANetDecoder, SEANetEncoder


class SEANetCodec(nn.Module):
    """``encode(wav [B, T]) -> codes [B, n_q, frames]``, ``decode(codes) -> wav [B, frames*hop]``,
    ``forward(wav) -> {"audio": [B, T], "losses": {"commitment": ..}, "codes": ..}``.

    ``bandwidths`` (kbps) are the bitrates the model is trained for: each must be a whole number
    of codebooks; quantizer dropout draws among them. ``n_q``/``bandwidth`` select one at
    inference; a bandwidth not in the list is an error that lists the valid ones.
    """

    def __init__(self, sample_rate: int = 8000, channels: int = 32, dimension: int = 128,
                 ratios: tuple[int, ...] = (2, 4, 5, 8),
                 residual_dilations: tuple[int, ...] = (1, 3), lstm_layers: int = 0,
                 codebook_size: int = 1024, bandwidths: tuple[float, ...] = (1.5, 3.0, 6.0),
                 quantizer_dropout: float = 0.5, decay: float = 0.99, epsilon: float = 1e-5,
                 kmeans_init: bool = True, kmeans_iters: int = 10,
                 dead_code_threshold: float = 2.0) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.hop = math.prod(ratios)
        self.codebook_size = codebook_size
        self.bandwidths = sorted(float(b) for b in bandwidths)
        self.bandwidth_to_n_q = {b: self._n_q_of(b) for b in self.bandwidths}
        num_quantizers = max(self.bandwidth_to_n_q.values())
        self.encoder = SEANetEncoder(channels, dimension, tuple(ratios),
                                     tuple(residual_dilations), lstm_layers)
        self.decoder = SEANetDecoder(channels, dimension, tuple(ratios),
                                     tuple(residual_dilations), lstm_layers)
        self.quantizer = ResidualVectorQuantizer(
            dimension, codebook_size, num_quantizers, sorted(self.bandwidth_to_n_q.values()),
            quantizer_dropout, decay, epsilon, kmeans_init, kmeans_iters, dead_code_threshold)

    # ---- bitrate bookkeeping -------------------------------------------------------------
    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    @property
    def num_quantizers(self) -> int:
        return self.quantizer.num_quantizers

    def bitrate(self, n_q: int | None = None) -> float:
        """Bits per second with the first ``n_q`` codebooks (all by default)."""
        n_q = self.num_quantizers if n_q is None else n_q
        return self.frame_rate * sum(math.log2(self.codebook_size) for _ in range(n_q))

    def _n_q_of(self, bandwidth: float) -> int:
        bits_per_codebook = self.frame_rate * math.log2(self.codebook_size)
        n_q = bandwidth * 1000 / bits_per_codebook
        if n_q < 1 or abs(n_q - round(n_q)) > 1e-6:
            raise ValueError(
                f"bandwidth {bandwidth} kbps is not a whole number of codebooks "
                f"({bits_per_codebook:g} bps each at {self.frame_rate:g} frames/s)")
        return round(n_q)

    def n_q_for_bandwidth(self, bandwidth: float) -> int:
        """Codebooks for ``bandwidth`` kbps; an error listing the valid ones if not trained."""
        for b, n_q in self.bandwidth_to_n_q.items():
            if abs(b - float(bandwidth)) < 1e-6:
                return n_q
        valid = ", ".join(f"{b:g}" for b in self.bandwidths)
        raise ValueError(f"bandwidth {bandwidth} kbps: this model was trained for {valid} kbps")

    def resolve_n_q(self, n_q: int | None = None, bandwidth: float | None = None) -> int:
        if n_q is not None and bandwidth is not None:
            raise ValueError("give n_q or bandwidth, not both")
        if bandwidth is not None:
            return self.n_q_for_bandwidth(bandwidth)
        return self.num_quantizers if n_q is None else int(n_q)

    def remove_weight_norm(self) -> SEANetCodec:
        """Fold each weight-normed conv into a plain weight (inference: same outputs, less
        work per call); training afterwards trains the plain weights."""
        for module in self.modules():
            if parametrize.is_parametrized(module, "weight"):
                parametrize.remove_parametrizations(module, "weight")
        return self

    # ---- coding --------------------------------------------------------------------------
    def _pad(self, wav: torch.Tensor) -> torch.Tensor:
        return F.pad(wav, (0, -wav.shape[-1] % self.hop))

    @torch.no_grad()
    def encode(self, wav: torch.Tensor, n_q: int | None = None,
               bandwidth: float | None = None) -> torch.Tensor:
        """Codes [B, n_q, ceil(T / hop)] of ``wav`` [B, T] (padded to whole frames)."""
        latent = self.encoder(self._pad(wav)[:, None])
        return self.quantizer.encode(latent, self.resolve_n_q(n_q, bandwidth))

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Waveform [B, frames * hop] from codes [B, n_q, frames]."""
        return self.decoder(self.quantizer.decode(codes.long()))[:, 0]

    def forward(self, wav: torch.Tensor, n_q: int | None = None,
                bandwidth: float | None = None) -> dict:
        length = wav.shape[-1]
        latent = self.encoder(self._pad(wav)[:, None])
        n_q = None if n_q is None and bandwidth is None else self.resolve_n_q(n_q, bandwidth)
        quantized, codes, commitment = self.quantizer(latent, n_q)
        audio = self.decoder(quantized)[:, 0, :length]
        return {"audio": audio, "losses": {"commitment": commitment}, "codes": codes}
