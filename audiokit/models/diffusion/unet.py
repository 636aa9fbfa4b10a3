"""A 1-D U-Net denoiser over log-mel "images" ``[B, n_mels, T]``, conditioned on the diffusion
step and on a caption.

Why 1-D: the mel bins are the channels and convolutions run along time only, which is several
times cheaper on a CPU than a 2-D U-Net over (mel, time) at the same width; the caption's
facts (timbre, tempo, key) are global over a clip, so the conditioning, not translation
invariance along the mel axis, carries them.

- Levels: ``channels[i]`` wide, ``blocks`` residual blocks each, time halved between levels
  (stride-2 convolution) and doubled back on the way up (nearest, then a convolution), with a
  skip connection per level. The input is padded at the end to a multiple of
  ``2 ** (levels - 1)`` frames and the output cut back.
- Residual blocks: per-frame LayerNorm over channels, SiLU, convolution, and a FiLM (scale and
  shift) from the step + caption embedding. Every frame past an utterance's length (``lens``)
  is zeroed before each convolution and no normalisation looks across frames, so an
  utterance's output does not depend on its padding nor on the rest of its batch.
- Caption: a small Transformer text encoder trained from scratch
  (:class:`~audiokit.models.codec_lm.layers.TextEncoder`, the codec LM's) over word ids; its
  masked mean joins the step embedding, and the levels in ``attn_levels`` and the middle
  block cross-attend to its outputs. The middle block also self-attends over time (every
  frame sees the whole clip at 1 / 2^(levels-1) of the frame rate).
- Classifier-free guidance: id ``text_vocab_size`` is the null caption; in training each
  caption is replaced by it with probability ``cond_dropout`` (:meth:`MelUNet.drop_text`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.models.codec_lm.layers import Attention, TextEncoder, sinusoids


class ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of each frame of ``[B, C, T]``."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.conv1 = ChannelNorm(cin), nn.Conv1d(cin, cout, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * cout)
        self.norm2, self.conv2 = ChannelNorm(cout), nn.Conv1d(cout, cout, 3, padding=1)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: Tensor, emb: Tensor, mask: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)) * mask)
        scale, shift = self.film(emb)[..., None].chunk(2, dim=1)
        h = F.silu(self.norm2(h) * (1 + scale) + shift)
        h = self.conv2(self.drop(h) * mask)
        return (self.skip(x) + h) * mask


class AttentionBlock(nn.Module):
    """Pre-norm attention of the frames ``[B, C, T]`` to ``memory`` [B, L, D] (cross) or to
    themselves (``memory=None``); ``key_mask`` [B, 1, 1, L] is True on real keys."""

    def __init__(self, channels: int, num_heads: int, dropout: float, memory_dim: int = 0) -> None:
        super().__init__()
        self.norm = ChannelNorm(channels)
        self.proj = nn.Linear(memory_dim, channels) if memory_dim else None
        self.attn = Attention(channels, num_heads, dropout)

    def forward(self, x: Tensor, mask: Tensor, key_mask: Tensor,
                memory: Tensor | None = None) -> Tensor:
        h = self.norm(x).transpose(1, 2)
        keys = self.proj(memory) if memory is not None else h
        k, v = self.attn.keys_values(keys)
        return x + self.attn.attend(h, k, v, key_mask).transpose(1, 2) * mask


class MelUNet(nn.Module):
    """``(x [B, n_mels, T], t [B], text [B, L], text_lens [B], lens [B]) -> [B, n_mels, T]``
    (the prediction the task trains it for: eps or v).

    Args:
        n_mels: input and output channels (the task passes its frontend's).
        text_vocab_size: caption token ids ``0 .. text_vocab_size - 1`` (id 0 is padding);
            the null caption is ``text_vocab_size``.
        channels: width of each level; ``len(channels)`` levels.
        attn_levels: levels (0 = full frame rate) whose blocks cross-attend to the caption.
    """

    def __init__(self, n_mels: int, text_vocab_size: int, *, channels: tuple[int, ...] = (96, 160, 256),
                 blocks: int = 2, attn_levels: tuple[int, ...] = (1, 2), num_heads: int = 4,
                 emb_dim: int = 256, text_dim: int = 128, text_layers: int = 2,
                 text_heads: int = 4, dropout: float = 0.0, cond_dropout: float = 0.1) -> None:
        super().__init__()
        channels = tuple(channels)
        if not channels or blocks < 1:
            raise ValueError(f"MelUNet needs at least one level and block, got {channels}, {blocks}")
        bad = [lv for lv in attn_levels if not 0 <= lv < len(channels)]
        if bad:
            raise ValueError(f"attn_levels {bad} outside the {len(channels)} levels")
        self.n_mels, self.channels, self.attn_levels = n_mels, channels, tuple(attn_levels)
        self.null_id, self.cond_dropout = text_vocab_size, cond_dropout
        self.stride = 2 ** (len(channels) - 1)
        self.time_dim = channels[0]
        self.time_mlp = nn.Sequential(nn.Linear(channels[0], emb_dim), nn.SiLU(),
                                      nn.Linear(emb_dim, emb_dim))
        self.text_encoder = TextEncoder(text_vocab_size + 1, text_dim, text_heads, 4 * text_dim,
                                        text_layers, dropout)
        self.text_pool = nn.Linear(text_dim, emb_dim)
        self.inp = nn.Conv1d(n_mels, channels[0], 3, padding=1)

        def cross(c: int) -> AttentionBlock:
            return AttentionBlock(c, num_heads, dropout, text_dim)

        self.down, self.down_attn, self.downsample = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        prev = channels[0]
        for i, c in enumerate(channels):
            self.down.append(nn.ModuleList(ResBlock(prev if b == 0 else c, c, emb_dim, dropout)
                                           for b in range(blocks)))
            self.down_attn.append(cross(c) if i in self.attn_levels else nn.Identity())
            if i < len(channels) - 1:
                self.downsample.append(nn.Conv1d(c, c, 3, stride=2, padding=1))
            prev = c
        c = channels[-1]
        self.mid1, self.mid2 = ResBlock(c, c, emb_dim, dropout), ResBlock(c, c, emb_dim, dropout)
        self.mid_self = AttentionBlock(c, num_heads, dropout)
        self.mid_cross = cross(c)
        self.up, self.up_attn, self.upsample = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for i, c in enumerate(channels):
            self.up.append(nn.ModuleList(ResBlock(2 * c if b == 0 else c, c, emb_dim, dropout)
                                         for b in range(blocks)))
            self.up_attn.append(cross(c) if i in self.attn_levels else nn.Identity())
            if i > 0:
                self.upsample.append(nn.Conv1d(c, channels[i - 1], 3, padding=1))
        self.out_norm = ChannelNorm(channels[0])
        self.out = nn.Conv1d(channels[0], n_mels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    # ---- the caption ----------------------------------------------------------------------
    def null_text(self, batch: int, device: torch.device | str) -> tuple[Tensor, Tensor]:
        return (torch.full((batch, 1), self.null_id, dtype=torch.long, device=device),
                torch.ones(batch, dtype=torch.long, device=device))

    def drop_text(self, text: Tensor, text_lens: Tensor, drop: Tensor) -> tuple[Tensor, Tensor]:
        """The captions where ``drop`` is True replaced by the null caption (one token); an
        empty caption (length 0) is the null caption too."""
        drop = drop | (text_lens == 0)
        if text.shape[1] == 0:
            text = text.new_zeros(text.shape[0], 1)
        text = text.clone()
        text[drop] = 0
        text[drop, 0] = self.null_id
        return text, torch.where(drop, torch.ones_like(text_lens), text_lens)

    def encode_text(self, text: Tensor, text_lens: Tensor) -> dict:
        """The caption condition, computed once per sampling run: ``memory`` [B, L, D], its
        ``memory_mask`` [B, 1, 1, L] and the masked-mean ``pooled`` [B, D]."""
        text, text_lens = self.drop_text(text, text_lens, torch.zeros_like(text_lens, dtype=torch.bool))
        memory, mask = self.text_encoder(text, text_lens)
        keep = mask[:, 0, 0, :, None].to(memory.dtype)
        pooled = (memory * keep).sum(1) / keep.sum(1).clamp(min=1)
        return {"memory": memory, "memory_mask": mask, "pooled": pooled}

    # ---- the network ----------------------------------------------------------------------
    def forward(self, x: Tensor, t: Tensor, text: Tensor | None = None,
                text_lens: Tensor | None = None, lens: Tensor | None = None,
                cond: dict | None = None) -> Tensor:
        b, _, frames = x.shape
        if cond is None:
            if text is None:
                text, text_lens = self.null_text(b, x.device)
            elif self.training and self.cond_dropout > 0:
                text, text_lens = self.drop_text(
                    text, text_lens, torch.rand(b, device=x.device) < self.cond_dropout)
            cond = self.encode_text(text, text_lens)
        if lens is None:
            lens = torch.full((b,), frames, dtype=torch.long, device=x.device)
        padded = -(-frames // self.stride) * self.stride
        h = F.pad(x, (0, padded - frames))
        masks, level_lens = [], lens
        for i in range(len(self.channels)):
            size = padded >> i
            masks.append((torch.arange(size, device=x.device)[None] < level_lens[:, None])[:, None])
            level_lens = (level_lens + 1) // 2
        fmasks = [m.to(x.dtype) for m in masks]
        emb = self.time_mlp(sinusoids(t, self.time_dim).to(x.dtype)) + self.text_pool(cond["pooled"])
        memory, memory_mask = cond["memory"], cond["memory_mask"]

        h = self.inp(h * fmasks[0]) * fmasks[0]
        skips = []
        for i, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h, emb, fmasks[i])
            if i in self.attn_levels:
                h = self.down_attn[i](h, fmasks[i], memory_mask, memory)
            skips.append(h)
            if i < len(self.channels) - 1:
                h = self.downsample[i](h) * fmasks[i + 1]
        last = len(self.channels) - 1
        h = self.mid1(h, emb, fmasks[last])
        h = self.mid_self(h, fmasks[last], masks[last][:, :, None, :])
        h = self.mid_cross(h, fmasks[last], memory_mask, memory)
        h = self.mid2(h, emb, fmasks[last])
        for i in reversed(range(len(self.channels))):
            h = torch.cat([h, skips[i]], dim=1)
            for block in self.up[i]:
                h = block(h, emb, fmasks[i])
            if i in self.attn_levels:
                h = self.up_attn[i](h, fmasks[i], memory_mask, memory)
            if i > 0:
                h = F.interpolate(h, scale_factor=2, mode="nearest")
                h = self.upsample[i - 1](h) * fmasks[i - 1]
        out = self.out(F.silu(self.out_norm(h)) * fmasks[0]) * fmasks[0]
        return out[:, :, :frames]
