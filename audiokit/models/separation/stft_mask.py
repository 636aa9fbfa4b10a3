"""STFT magnitude-mask baseline: log magnitude -> BLSTM -> per-source masks -> mixture phase."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class STFTMaskNet(nn.Module):
    """``mixture [B, T] -> sources [B, num_sources, T]`` by masking the mixture's STFT.

    Args:
        num_sources: sources to estimate (1 = enhancement).
        n_fft, win_length, hop_length: STFT with a Hann window (win_length defaults to n_fft).
        hidden_size: LSTM units per direction.  num_layers: LSTM layers.
        bidirectional: BLSTM (False gives a causal, frame-online model).
        dropout: between LSTM layers.
        mask_activation: ``"sigmoid"`` (bounded ratio mask) or ``"relu"``.
    """

    def __init__(
        self,
        num_sources: int = 2,
        n_fft: int = 512,
        hop_length: int = 128,
        win_length: int | None = None,
        hidden_size: int = 256,
        num_layers: int = 2,
        bidirectional: bool = True,
        dropout: float = 0.0,
        mask_activation: str = "sigmoid",
    ) -> None:
        super().__init__()
        if mask_activation not in ("relu", "sigmoid"):
            raise ValueError(f"mask_activation must be 'relu' or 'sigmoid', got {mask_activation!r}")
        self.num_sources = num_sources
        self.n_fft, self.hop_length = n_fft, hop_length
        self.win_length = win_length or n_fft
        self.mask_activation = mask_activation
        self.register_buffer("window", torch.hann_window(self.win_length), persistent=False)
        bins = n_fft // 2 + 1
        self.norm = nn.LayerNorm(bins)  # per-frame log-spectrum normalisation: level-invariant
        self.rnn = nn.LSTM(
            bins, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.proj = nn.Linear(hidden_size * (2 if bidirectional else 1), num_sources * bins)

    def forward(self, mixture: Tensor) -> Tensor:
        batch, length = mixture.shape
        # Constant centre padding: works for inputs shorter than the window too.
        spec = torch.stft(
            mixture, self.n_fft, self.hop_length, self.win_length, self.window, center=True,
            pad_mode="constant", return_complex=True,
        )  # [B, F, T']
        feats = self.norm(torch.log(spec.abs().transpose(1, 2) + 1e-6))  # [B, T', F]
        masks = self.proj(self.rnn(feats)[0])
        masks = torch.sigmoid(masks) if self.mask_activation == "sigmoid" else masks.relu()
        bins, frames = spec.shape[1], spec.shape[2]
        masks = masks.reshape(batch, frames, self.num_sources, bins).permute(0, 2, 3, 1)
        est = masks * spec.unsqueeze(1)  # real mask keeps the mixture phase
        wav = torch.istft(
            est.reshape(batch * self.num_sources, bins, frames), self.n_fft, self.hop_length,
            self.win_length, self.window, center=True, length=length,
        )
        return wav.reshape(batch, self.num_sources, length)
