"""Conformer encoder (Gulati et al. 2020): macaron feed-forwards around relative-position
self-attention and a convolution module, after convolutional subsampling."""

from __future__ import annotations

from torch import Tensor, nn

from audiokit.models.asr.attention import RelPositionalEncoding, RelPositionMultiHeadAttention
from audiokit.models.asr.subsampling import Conv2dSubsampling
from audiokit.utils.masking import lengths_to_mask


def feed_forward(d_model: int, ffn_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, ffn_dim), nn.SiLU(),
                         nn.Dropout(dropout), nn.Linear(ffn_dim, d_model), nn.Dropout(dropout))


class ConvolutionModule(nn.Module):
    """Pointwise conv + GLU -> depthwise conv -> BatchNorm -> Swish -> pointwise conv."""

    def __init__(self, d_model: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"conv kernel_size must be odd (same-length output), got {kernel_size}")
        self.norm = nn.LayerNorm(d_model)
        self.pointwise_in = nn.Conv1d(d_model, 2 * d_model, 1)
        self.depthwise = nn.Conv1d(d_model, d_model, kernel_size, padding=kernel_size // 2,
                                   groups=d_model)
        self.batch_norm = nn.BatchNorm1d(d_model)
        self.pointwise_out = nn.Conv1d(d_model, d_model, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        x = nn.functional.glu(self.pointwise_in(self.norm(x).transpose(1, 2)), dim=1)
        x = x.masked_fill(~valid[:, None, :], 0.0)  # the depthwise conv must not see padding
        x = nn.functional.silu(self.batch_norm(self.depthwise(x)))
        return self.dropout(self.pointwise_out(x).transpose(1, 2))


class ConformerBlock(nn.Module):
    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, kernel_size: int,
                 dropout: float, attention_dropout: float) -> None:
        super().__init__()
        self.ff1 = feed_forward(d_model, ffn_dim, dropout)
        self.attn_norm = nn.LayerNorm(d_model)
        self.attn = RelPositionMultiHeadAttention(d_model, num_heads, attention_dropout)
        self.attn_dropout = nn.Dropout(dropout)
        self.conv = ConvolutionModule(d_model, kernel_size, dropout)
        self.ff2 = feed_forward(d_model, ffn_dim, dropout)
        self.final_norm = nn.LayerNorm(d_model)

    def forward(self, x: Tensor, pos: Tensor, valid: Tensor) -> Tensor:
        x = x + 0.5 * self.ff1(x)
        x = x + self.attn_dropout(self.attn(self.attn_norm(x), pos, valid[:, None, None, :]))
        x = x + self.conv(x, valid)
        x = x + 0.5 * self.ff2(x)
        return self.final_norm(x)


class ConformerEncoder(nn.Module):
    """feats [B, T, F] -> (h [B, T', d_model], h_lens). ESPnet's conformer with
    ``rel_pos_type: latest``, ``macaron_style: true``, ``normalize_before: true``, swish.

    ``intermediate_layers`` (1-based block indices) are returned by
    ``forward(..., return_intermediate=True)`` for intermediate CTC (Lee & Watanabe 2021).
    """

    def __init__(self, input_dim: int, d_model: int = 256, num_heads: int = 4,
                 ffn_dim: int = 1024, num_blocks: int = 12, kernel_size: int = 31,
                 subsampling: int = 4, dropout: float = 0.1, attention_dropout: float = 0.1,
                 positional_dropout: float = 0.1,
                 intermediate_layers: tuple[int, ...] | list[int] = ()) -> None:
        super().__init__()
        self.subsampling = Conv2dSubsampling(input_dim, d_model, subsampling)
        self.pos_enc = RelPositionalEncoding(d_model, positional_dropout)
        self.blocks = nn.ModuleList(
            ConformerBlock(d_model, num_heads, ffn_dim, kernel_size, dropout, attention_dropout)
            for _ in range(num_blocks))
        self.output_dim = d_model
        self.intermediate_layers = tuple(intermediate_layers)
        self.after_norm = nn.LayerNorm(d_model)

    @property
    def min_input_frames(self) -> int:
        return self.subsampling.min_frames

    def forward(self, feats: Tensor, lens: Tensor, return_intermediate: bool = False):
        x, lens = self.subsampling(feats, lens)
        x, pos = self.pos_enc(x)
        valid = lengths_to_mask(lens, x.size(1))
        intermediate = []
        for i, block in enumerate(self.blocks, start=1):
            x = block(x, pos, valid)
            if i in self.intermediate_layers:
                intermediate.append(x)
        x = self.after_norm(x)
        return (x, lens, intermediate) if return_intermediate else (x, lens)
