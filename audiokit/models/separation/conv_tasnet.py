"""Conv-TasNet (Luo & Mesgarani 2019): learned filterbank + temporal convolutional mask network."""

from __future__ import annotations

import os
import shutil
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.models.separation.cpu_layers import DepthwiseConv1d, PReLU
from audiokit.models.separation.filterbank import FilterbankDecoder, FilterbankEncoder
from audiokit.models.separation.norms import CAUSAL_NORMS, make_norm


class TemporalBlock(nn.Module):
    """1x1 conv -> PReLU -> norm -> dilated depthwise conv -> PReLU -> norm -> residual/skip 1x1."""

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        skip_channels: int,
        kernel_size: int,
        dilation: int,
        norm: str,
        causal: bool,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.causal = causal
        self.pad = (kernel_size - 1) * dilation
        self.in_conv = nn.Conv1d(channels, hidden_channels, 1)
        self.act1 = PReLU()
        self.norm1 = make_norm(norm, hidden_channels)
        self.depthwise = DepthwiseConv1d(hidden_channels, kernel_size, dilation)
        self.act2 = PReLU()
        self.norm2 = make_norm(norm, hidden_channels)
        # The last block's residual output would be unused (and trip DDP's unused-parameter
        # check), so the separator builds it without one when the skip path is on.
        self.res_conv = nn.Conv1d(hidden_channels, channels, 1) if residual else None
        self.skip_conv = nn.Conv1d(hidden_channels, skip_channels, 1) if skip_channels else None
        self.compile_core = False  # set by ConvTasNet(compile_blocks=True)

    def core(self, h: Tensor) -> Tensor:
        """Everything between the 1x1 convs: elementwise ops and norms, no matmul."""
        h = self.norm1(self.act1(h))
        # Causal: all padding on the left, so frame t only sees frames <= t.
        pad = (self.pad, 0) if self.causal else (self.pad // 2, self.pad - self.pad // 2)
        return self.norm2(self.act2(self.depthwise(F.pad(h, pad))))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        core = _compiled_core() if self.compile_core and self.training else TemporalBlock.core
        h = core(self, self.in_conv(x))
        out = x + self.res_conv(h) if self.res_conv is not None else x
        skip = self.skip_conv(h) if self.skip_conv is not None else None
        return out, skip


_COMPILED_CORE = None


def _compiled_core():
    """``TemporalBlock.core`` through ``torch.compile``, built once and shared by all blocks.

    Half of an eager CPU training step is the core's ~20 elementwise passes over ``[B, H,
    frames]`` (forward and backward); Inductor fuses them into a few loops, for faster
    Conv-TasNet steps on CPU (figures: recipes/fsdd/sep/RESULTS.md). Shapes are dynamic
    (batches vary in size and length); the block's ints (dilation, padding) are static, so each
    dilation is one graph, compiled once, hence the raised recompile limit. The 1x1 convs stay
    out: Inductor's conv backward would specialise on every input length.
    """
    global _COMPILED_CORE
    if _COMPILED_CORE is None:
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        _COMPILED_CORE = torch.compile(TemporalBlock.core, dynamic=True)
    return _COMPILED_CORE


class TCNSeparator(nn.Module):
    """Conv-TasNet's mask network: ``[B, N, frames]`` -> masks ``[B, S, N, frames]``."""

    def __init__(
        self,
        num_filters: int,
        num_sources: int,
        bottleneck_channels: int,
        hidden_channels: int,
        skip_channels: int,
        kernel_size: int,
        num_blocks: int,
        num_repeats: int,
        norm: str,
        causal: bool,
        mask_activation: str,
    ) -> None:
        super().__init__()
        if mask_activation not in ("relu", "sigmoid"):
            raise ValueError(f"mask_activation must be 'relu' or 'sigmoid', got {mask_activation!r}")
        self.num_sources = num_sources
        self.mask_activation = mask_activation
        # Input norm is channel-wise in the reference implementation: causal either way.
        self.input_norm = make_norm("cLN", num_filters)
        self.bottleneck = nn.Conv1d(num_filters, bottleneck_channels, 1)
        total = num_blocks * num_repeats
        self.blocks = nn.ModuleList(
            TemporalBlock(
                bottleneck_channels, hidden_channels, skip_channels, kernel_size,
                dilation=2**i, norm=norm, causal=causal,
                residual=not (skip_channels and r * num_blocks + i == total - 1),
            )
            for r in range(num_repeats)
            for i in range(num_blocks)
        )
        self.out_act = PReLU()
        out_in = skip_channels or bottleneck_channels
        self.mask_conv = nn.Conv1d(out_in, num_sources * num_filters, 1)

    def forward(self, feats: Tensor) -> Tensor:
        x = self.bottleneck(self.input_norm(feats))
        skip_sum: Tensor | int = 0
        for block in self.blocks:
            x, skip = block(x)
            if skip is not None:
                skip_sum = skip_sum + skip
        y = skip_sum if isinstance(skip_sum, Tensor) else x
        masks = self.mask_conv(self.out_act(y))
        masks = F.relu(masks) if self.mask_activation == "relu" else torch.sigmoid(masks)
        return masks.reshape(feats.shape[0], self.num_sources, feats.shape[1], -1)


class ConvTasNet(nn.Module):
    """Conv-TasNet: ``mixture [B, T] -> sources [B, num_sources, T]``.

    Names follow the paper (Table 1): N filters of length L (stride L/2), bottleneck B, hidden
    H, skip Sc, kernel P, X blocks per repeat, R repeats.

    Args:
        num_sources: sources to estimate (1 = enhancement).
        num_filters: N.  kernel_size: L.  bottleneck_channels: B.  hidden_channels: H.
        skip_channels: Sc (0 = no skip path; masks come from the last residual output).
        conv_kernel_size: P.  num_blocks: X.  num_repeats: R.
        norm: ``"gLN"``, ``"cLN"`` or ``"cumLN"``; ``None`` = gLN, or cLN when causal.
        causal: causal convolutions (latency: one encoder frame, L samples).
        mask_activation: ``"sigmoid"`` (paper) or ``"relu"`` (the authors' later code).
        compile_blocks: run each block's elementwise core through ``torch.compile`` while
            training (faster CPU steps, about 1-2 s of compiling per dilation; evaluation and
            inference stay eager). Needs a C++ compiler on CPU; without one, a warning and eager.
    """

    def __init__(
        self,
        num_sources: int = 2,
        num_filters: int = 512,
        kernel_size: int = 16,
        bottleneck_channels: int = 128,
        hidden_channels: int = 512,
        skip_channels: int = 128,
        conv_kernel_size: int = 3,
        num_blocks: int = 8,
        num_repeats: int = 3,
        norm: str | None = None,
        causal: bool = False,
        mask_activation: str = "sigmoid",
        compile_blocks: bool = False,
    ) -> None:
        super().__init__()
        norm = norm or ("cLN" if causal else "gLN")
        if causal and norm not in CAUSAL_NORMS:
            raise ValueError(f"causal Conv-TasNet needs a causal norm {CAUSAL_NORMS}, got {norm!r}")
        self.num_sources = num_sources
        self.causal = causal
        self.encoder = FilterbankEncoder(num_filters, kernel_size, kernel_size // 2)
        self.separator = TCNSeparator(
            num_filters, num_sources, bottleneck_channels, hidden_channels, skip_channels,
            conv_kernel_size, num_blocks, num_repeats, norm, causal, mask_activation,
        )
        self.decoder = FilterbankDecoder(num_filters, kernel_size, kernel_size // 2)
        if compile_blocks and not shutil.which(os.environ.get("CXX", "g++")):
            warnings.warn("Conv-TasNet compile_blocks=true needs a C++ compiler (g++ or $CXX) "
                          "for torch.compile on CPU; none found, so the blocks run eagerly",
                          stacklevel=2)
            compile_blocks = False
        for block in self.separator.blocks:
            block.compile_core = compile_blocks

    def forward(self, mixture: Tensor) -> Tensor:
        feats = self.encoder(mixture)  # [B, N, frames]
        masks = self.separator(feats)  # [B, S, N, frames]
        return self.decoder(feats.unsqueeze(1) * masks, mixture.shape[-1])
