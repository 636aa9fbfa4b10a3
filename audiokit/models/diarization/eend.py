"""End-to-end neural diarization: SA-EEND (Fujita et al. 2019) with optional encoder-decoder
attractors, EEND-EDA (Horiguchi et al. 2020)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from audiokit.utils.masking import lengths_to_mask

# Logit given to speaker columns beyond an utterance's speaker count (EDA): sigmoid -> 0, and
# finite (unlike -inf) so a BCE against a silent label column stays 0, also in fp16/bf16.
INACTIVE_LOGIT = -1e4


def splice_and_subsample(feats: Tensor, lens: Tensor, context: int,
                         subsampling: int) -> tuple[Tensor, Tensor]:
    """Stack +-``context`` neighbouring frames, then keep every ``subsampling``-th frame.

    ``feats`` [B, T, F] -> [B, ceil(T / s), (2 * context + 1) * F]. Output frame k is centred
    on input frame k * s (frames 0, s, 2s, ... as in EEND's ``Y[::s]``), so it holds input
    frames k*s - c .. k*s + c in time order; frames outside the utterance (before 0 or at or
    after ``lens[b]``) read as zeros, which keeps a padded batch equal to each utterance alone.
    Output lengths are ``ceil(lens / s)``: every input frame index t < lens with t % s == 0.
    """
    if context == 0 and subsampling == 1:
        return feats, lens
    mask = lengths_to_mask(lens, feats.shape[1]).unsqueeze(-1)
    x = F.pad(feats.masked_fill(~mask, 0.0), (0, 0, context, context))  # [B, T + 2c, F]
    window = 2 * context + 1
    x = x.unfold(1, window, subsampling)  # [B, T', F, window] (a strided view)
    x = x.transpose(2, 3).flatten(2)  # [B, T', window * F], frame-major like Kaldi's splice
    return x, output_lengths(lens, subsampling)


def output_lengths(lens: Tensor, subsampling: int) -> Tensor:
    """ceil(lens / subsampling): the frames kept by :func:`splice_and_subsample`."""
    return torch.div(lens + subsampling - 1, subsampling, rounding_mode="floor")


class EEND(nn.Module):
    """Self-attentive EEND: ``(feats [B, T, F], lens [B]) -> dict`` of frame-wise speaker logits.

    Splice +-``context`` frames and keep every ``subsampling``-th (EEND: 7 and 10 on 10 ms
    frames, i.e. 100 ms outputs) -> linear -> LayerNorm -> pre-norm Transformer encoder with a
    key padding mask and no positional encoding (as SA-EEND: speaker identity does not depend on
    where a frame sits) -> final LayerNorm = frame embeddings.

    Without ``eda`` a linear head gives ``num_speakers`` logits per frame. With ``eda`` an LSTM
    encoder reads the valid embeddings (shuffled in time when ``shuffle``: the attractors should
    summarise who speaks, not when), and an LSTM decoder, started from the encoder's final
    state and fed zeros, emits one attractor per step; speaker logits are embedding . attractor
    and a linear layer scores each attractor's existence.

    ``forward(feats, lens, num_speakers=None)`` returns ``logits`` [B, T', S] (pre-sigmoid),
    ``lens`` [B] (T' frames each), ``attractor_logits`` [B, A] (EDA, A = max_speakers + 1,
    more if a given count needs it) or None, and ``num_speakers`` [B] (long). With EDA,
    ``num_speakers`` (int or [B]; training: the label counts) fixes how many attractors make
    speaker columns; None estimates each count as the number of leading attractors whose
    existence probability exceeds ``threshold`` (at most ``max_speakers``). S is the batch's
    largest count (at least 1); columns at or beyond an utterance's count are
    ``INACTIVE_LOGIT``. Without EDA, S = ``num_speakers`` of the constructor and the argument
    is ignored.

    Args:
        input_dim: feature bins per input frame (before splicing).
        d_model, num_heads, num_layers, ff_dim, dropout: the Transformer encoder.
        subsampling: keep one output frame in this many input frames.
        context: input frames spliced on each side of the centre frame.
        num_speakers: outputs of the linear head (without EDA).
        eda: use encoder-decoder attractors (flexible speaker count).
        max_speakers: most speakers EDA counts at inference.
        shuffle: shuffle the frames fed to the EDA encoder. In training a fresh random order
            each call; in eval a fixed order per utterance length (deterministic, and the LSTM
            still sees the unordered frames it was trained on).
        threshold: existence probability above which an attractor counts as a speaker.
    """

    def __init__(
        self,
        input_dim: int,
        d_model: int = 256,
        num_heads: int = 4,
        num_layers: int = 4,
        ff_dim: int = 1024,
        dropout: float = 0.1,
        subsampling: int = 1,
        context: int = 0,
        num_speakers: int = 2,
        eda: bool = False,
        max_speakers: int = 4,
        shuffle: bool = True,
        threshold: float = 0.5,
    ) -> None:
        super().__init__()
        if subsampling < 1 or context < 0:
            raise ValueError(f"need subsampling >= 1 and context >= 0, got {subsampling}, "
                             f"{context}")
        self.input_dim, self.d_model = input_dim, d_model
        self.subsampling, self.context = subsampling, context
        self.num_speakers, self.eda, self.max_speakers = num_speakers, eda, max_speakers
        self.shuffle, self.threshold = shuffle, threshold
        self.input_proj = nn.Linear((2 * context + 1) * input_dim, d_model)
        self.input_norm = nn.LayerNorm(d_model)
        layer = nn.TransformerEncoderLayer(d_model, num_heads, ff_dim, dropout,
                                           batch_first=True, norm_first=True)
        # norm_first layers leave the residual stream unnormalised: a final LayerNorm closes it.
        # (enable_nested_tensor would be refused for norm_first anyway; say so to skip a warning)
        self.encoder = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(d_model),
                                             enable_nested_tensor=False)
        if eda:
            self.eda_encoder = nn.LSTM(d_model, d_model, batch_first=True)
            self.eda_decoder = nn.LSTM(d_model, d_model, batch_first=True)
            self.existence = nn.Linear(d_model, 1)
        else:
            self.head = nn.Linear(d_model, num_speakers)

    def output_lens(self, lens: Tensor) -> Tensor:
        """Output frames for ``lens`` input frames: ceil(lens / subsampling)."""
        return output_lengths(lens, self.subsampling)

    def out_frame_shift(self, frame_shift: float) -> float:
        """Seconds between output frames, given the input frame shift (e.g. 0.01 -> 0.1)."""
        return frame_shift * self.subsampling

    def embed(self, feats: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        """Frame embeddings [B, T', d_model] (zero at padding) and their lengths [B]."""
        if feats.shape[-1] != self.input_dim:
            raise ValueError(f"EEND expected {self.input_dim} feature bins, got {feats.shape[-1]}")
        if int(lens.min()) < 1:
            raise ValueError("EEND got an utterance with no frames (lens must be >= 1)")
        x, lens = splice_and_subsample(feats, lens, self.context, self.subsampling)
        mask = lengths_to_mask(lens, x.shape[1])
        h = self.input_norm(self.input_proj(x))
        h = self.encoder(h, src_key_padding_mask=~mask)
        return h.masked_fill(~mask.unsqueeze(-1), 0.0), lens

    def forward(self, feats: Tensor, lens: Tensor,
                num_speakers: Tensor | int | None = None) -> dict[str, Tensor | None]:
        emb, lens = self.embed(feats, lens)
        batch = emb.shape[0]
        if not self.eda:
            counts = torch.full((batch,), self.num_speakers, dtype=torch.long, device=emb.device)
            return dict(logits=self.head(emb), lens=lens, attractor_logits=None,
                        num_speakers=counts)
        counts = None
        if num_speakers is not None:
            counts = torch.as_tensor(num_speakers, device=emb.device).long().expand(batch)
        # One attractor past the largest count: its existence logit learns "no more speakers".
        steps = max(self.max_speakers, int(counts.max()) if counts is not None else 0) + 1
        attractors, attractor_logits = self.attractors(emb, lens, steps)
        if counts is None:
            counts = self.estimate_counts(attractor_logits)
        width = max(int(counts.max()), 1)
        logits = torch.einsum("btd,bsd->bts", emb, attractors[:, :width])
        beyond = torch.arange(width, device=emb.device) >= counts.unsqueeze(1)  # [B, S]
        logits = logits.masked_fill(beyond.unsqueeze(1), INACTIVE_LOGIT)
        return dict(logits=logits, lens=lens, attractor_logits=attractor_logits,
                    num_speakers=counts)

    def attractors(self, emb: Tensor, lens: Tensor, steps: int) -> tuple[Tensor, Tensor]:
        """EDA: attractors [B, steps, d_model] and their existence logits [B, steps]."""
        batch, frames, dim = emb.shape
        order = self._frame_order(lens, frames).to(emb.device)
        x = emb.gather(1, order.unsqueeze(-1).expand(-1, -1, dim))
        # Packing feeds each utterance's valid frames only; h_n/c_n come back in batch order.
        packed = pack_padded_sequence(x, lens.cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.eda_encoder(packed)
        attractors, _ = self.eda_decoder(emb.new_zeros(batch, steps, dim), state)
        return attractors, self.existence(attractors).squeeze(-1)

    def estimate_counts(self, attractor_logits: Tensor) -> Tensor:
        """Leading attractors with existence probability > threshold, capped at max_speakers."""
        exists = (torch.sigmoid(attractor_logits) > self.threshold).long()
        return exists.cumprod(-1).sum(-1).clamp(max=self.max_speakers)

    def _frame_order(self, lens: Tensor, frames: int) -> Tensor:
        """[B, frames] gather index: a permutation of 0..lens[b]-1, then padding (index 0)."""
        order = torch.zeros(len(lens), frames, dtype=torch.long)
        shuffle = self.shuffle and frames > 1
        generator = None if self.training else torch.Generator()
        for b, n in enumerate(lens.tolist()):
            if not shuffle:
                order[b, :n] = torch.arange(n)
                continue
            if generator is not None:
                generator.manual_seed(0)  # same order for the same length, whatever the batch
            order[b, :n] = torch.randperm(n, generator=generator)
        return order

    def extra_repr(self) -> str:
        return (f"input_dim={self.input_dim}, context={self.context}, "
                f"subsampling={self.subsampling}, eda={self.eda}, "
                f"num_speakers={self.num_speakers}, max_speakers={self.max_speakers}")
