"""A small neural voice-activity detector: conv front + bidirectional GRU + linear, per frame."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from audiokit.utils.masking import lengths_to_mask


class ConvBlock(nn.Module):
    """Same-length conv1d -> LayerNorm -> ReLU -> dropout, on ``[B, T, C]`` frames.

    LayerNorm normalises each frame on its own, so (unlike BatchNorm) padding frames cannot
    change the statistics of real ones; padding is zeroed before the conv for the same reason.
    """

    def __init__(self, in_dim: int, out_dim: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to keep the frame rate, got {kernel_size}")
        self.conv = nn.Conv1d(in_dim, out_dim, kernel_size, padding=kernel_size // 2)
        self.norm = nn.LayerNorm(out_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = self.conv(x.masked_fill(~mask, 0.0).transpose(1, 2)).transpose(1, 2)
        return self.dropout(self.norm(x).relu())


class VADNet(nn.Module):
    """Frame-level speech activity: ``[B, T, F]`` features -> ``[B, T, num_outputs]`` logits.

    Two conv blocks see a short context (kernel 5 = +-2 frames each); a bidirectional GRU
    sees the whole utterance; a linear layer scores each frame. With ``subsampling=s`` the GRU
    (the costly, sequential part) runs on every s-th conv output: output frame k is input frame
    k * s, as :func:`audiokit.tasks.diarization.align_labels` expects; s=1 keeps every frame. ``num_outputs=1`` is a VAD (apply
    a sigmoid, then :func:`audiokit.inference.vad.binarize`); more outputs give per-speaker
    activities, as EEND-style models need. About 160k parameters with the defaults and 40 bins.

    Args:
        input_dim: feature bins per frame (e.g. 40 or 80 log-mels from the frontend).
        hidden_dim: conv channels and GRU units per direction.
        num_layers: GRU layers.
        num_outputs: scores per frame.
        dropout: after each conv block and between GRU layers.
        kernel_size: conv kernel (odd).
        subsampling: keep every s-th frame after the convs.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int = 64,
        num_layers: int = 2,
        num_outputs: int = 1,
        dropout: float = 0.1,
        kernel_size: int = 5,
        subsampling: int = 1,
    ) -> None:
        super().__init__()
        if subsampling < 1:
            raise ValueError(f"subsampling must be >= 1, got {subsampling}")
        self.subsampling = subsampling
        self.input_dim = input_dim
        self.num_outputs = num_outputs
        self.convs = nn.ModuleList([
            ConvBlock(input_dim, hidden_dim, kernel_size, dropout),
            ConvBlock(hidden_dim, hidden_dim, kernel_size, dropout),
        ])
        self.rnn = nn.GRU(hidden_dim, hidden_dim, num_layers, batch_first=True,
                          bidirectional=True, dropout=dropout if num_layers > 1 else 0.0)
        self.out = nn.Linear(2 * hidden_dim, num_outputs)

    def forward(self, feats: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        """``feats`` [B, T, F] (frames ``t >= lens[b]`` are padding), ``lens`` [B] ->
        (logits [B, ceil(T / s), num_outputs], 0 on padding frames; lens ceil(lens / s))."""
        if feats.shape[-1] != self.input_dim:
            raise ValueError(f"expected {self.input_dim} feature bins, got {feats.shape[-1]}")
        total = feats.shape[1]
        mask = lengths_to_mask(lens, total).unsqueeze(-1)  # [B, T, 1]
        x = feats
        for conv in self.convs:
            x = conv(x, mask)
        if self.subsampling > 1:
            s = self.subsampling
            x, lens = x[:, ::s], (lens + s - 1) // s
            total = x.shape[1]
            mask = lengths_to_mask(lens, total).unsqueeze(-1)
        # Packing makes the backward GRU start at each utterance's real last frame, not at
        # padding. An empty utterance is packed as one frame and masked out below.
        packed = pack_padded_sequence(x, lens.clamp(min=1).cpu(), batch_first=True,
                                      enforce_sorted=False)
        x, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=total)
        return self.out(x).masked_fill(~mask, 0.0), lens
