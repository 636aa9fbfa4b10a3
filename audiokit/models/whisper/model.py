"""Whisper-style encoder-decoder (Radford et al. 2022, "Robust Speech Recognition via
Large-Scale Weak Supervision"), with parameter names laid out as in OpenAI's released
checkpoints so that their ``model_state_dict`` loads with a plain ``load_state_dict``.

Encoder: two 1-D convolutions (the second with stride 2) with GELU, a fixed sinusoidal position
table, pre-LayerNorm transformer blocks and a final LayerNorm. Decoder: token embedding plus a
learned position table, pre-LN blocks with causal self-attention, cross-attention and an MLP,
a final LayerNorm, and logits tied to the token embedding.

Differences from the original that do not change results on OpenAI's own 30 s inputs: the
encoder accepts fewer than ``n_audio_ctx`` positions (the table is sliced) and both the encoder
self-attention and the decoder cross-attention take optional lengths, so short utterances can be
batched without padding them to 30 s. With full-length inputs and no lengths, the computation is
the original one (checked once against Hugging Face transformers' WhisperForConditionalGeneration
with the same random weights: identical encoder output and logits).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.utils.masking import lengths_to_mask

# One decoder layer's incremental state: cross-attention keys/values (computed once from the
# audio) and self-attention keys/values of the tokens seen so far, each [N, L, D].
LayerCache = tuple[Tensor, Tensor, Tensor, Tensor]


@dataclass
class ModelDimensions:
    """The ``dims`` entry of an OpenAI checkpoint (same field names)."""

    n_mels: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_vocab: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int

    @classmethod
    def from_dict(cls, d: dict) -> ModelDimensions:
        names = {f.name for f in fields(cls)}
        missing = names - set(d)
        if missing:
            raise KeyError(f"model dims lack {sorted(missing)}")
        return cls(**{k: int(d[k]) for k in names})


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> Tensor:
    """[length, channels] table: sines in the first half of the channels, cosines in the second,
    with timescales spaced geometrically from 1 to ``max_timescale`` (Whisper's encoder table)."""
    if channels % 2:
        raise ValueError(f"sinusoidal positions need an even width, got {channels}")
    increment = math.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = torch.exp(-increment * torch.arange(channels // 2, dtype=torch.float32))
    angles = torch.arange(length, dtype=torch.float32)[:, None] * inv_timescales[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 (as the original does for half-precision weights)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.float()).type(x.dtype)


class MultiHeadAttention(nn.Module):
    """Multi-head attention with OpenAI's projection names; the key projection has no bias."""

    def __init__(self, n_state: int, n_head: int) -> None:
        super().__init__()
        if n_state % n_head:
            raise ValueError(f"width {n_state} is not divisible by {n_head} heads")
        self.n_head = n_head
        self.query = nn.Linear(n_state, n_state)
        self.key = nn.Linear(n_state, n_state, bias=False)
        self.value = nn.Linear(n_state, n_state)
        self.out = nn.Linear(n_state, n_state)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None,
               causal: bool = False) -> Tensor:
        """q [N, Lq, D], k/v [N, Lk, D]; ``mask`` [N, Lk] bool (True = may attend)."""
        n, lq, d = q.shape
        heads = [t.view(n, t.size(1), self.n_head, d // self.n_head).transpose(1, 2)
                 for t in (q, k, v)]
        attn_mask = None
        if mask is not None:
            attn_mask = mask[:, None, None, :]
        if causal and lq > 1:
            # Queries are the last lq of lk positions (lk > lq when earlier keys are cached).
            lk = k.size(1)
            causal_mask = torch.ones(lq, lk, dtype=torch.bool, device=q.device).tril(lk - lq)
            attn_mask = causal_mask if attn_mask is None else attn_mask & causal_mask
        out = F.scaled_dot_product_attention(*heads, attn_mask=attn_mask)
        return self.out(out.transpose(1, 2).reshape(n, lq, d))

    def forward(self, x: Tensor, mask: Tensor | None = None, causal: bool = False) -> Tensor:
        return self.attend(self.query(x), self.key(x), self.value(x), mask, causal)


class ResidualAttentionBlock(nn.Module):
    """Pre-LN block: x + attn(ln(x)) [+ cross_attn(ln(x), audio)] + mlp(ln(x))."""

    def __init__(self, n_state: int, n_head: int, cross_attention: bool = False) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(n_state, n_head)
        self.attn_ln = LayerNorm(n_state)
        self.cross_attn = MultiHeadAttention(n_state, n_head) if cross_attention else None
        self.cross_attn_ln = LayerNorm(n_state) if cross_attention else None
        # indices 0 and 2 are the Linear layers, as in the checkpoints' mlp.0 / mlp.2 names
        self.mlp = nn.Sequential(nn.Linear(n_state, 4 * n_state), nn.GELU(),
                                 nn.Linear(4 * n_state, n_state))
        self.mlp_ln = LayerNorm(n_state)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Encoder use: self-attention over valid positions (``mask`` [N, T], True = valid)."""
        x = x + self.attn(self.attn_ln(x), mask)
        return x + self.mlp(self.mlp_ln(x))

    def decode(self, x: Tensor, audio: Tensor | None, audio_mask: Tensor | None,
               cache: LayerCache | None) -> tuple[Tensor, LayerCache]:
        """Decoder use on new tokens ``x`` [N, L, D] after the cached ones; returns the new cache.

        ``audio`` (encoder output) is needed only when there is no cache yet.
        """
        h = self.attn_ln(x)
        k, v = self.attn.key(h), self.attn.value(h)
        if cache is None:
            ck, cv = self.cross_attn.key(audio), self.cross_attn.value(audio)
        else:
            ck, cv, past_k, past_v = cache
            k, v = torch.cat([past_k, k], 1), torch.cat([past_v, v], 1)
        x = x + self.attn.attend(self.attn.query(h), k, v, causal=True)
        h = self.cross_attn_ln(x)
        x = x + self.cross_attn.attend(self.cross_attn.query(h), ck, cv, audio_mask)
        x = x + self.mlp(self.mlp_ln(x))
        return x, (ck, cv, k, v)


def conv_output_lengths(frames: Tensor) -> Tensor:
    """Encoder positions for ``frames`` input frames (conv2: kernel 3, stride 2, padding 1)."""
    return (frames - 1) // 2 + 1


class AudioEncoder(nn.Module):
    def __init__(self, n_mels: int, n_ctx: int, n_state: int, n_head: int, n_layer: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(n_mels, n_state, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(n_state, n_state, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positional_embedding", sinusoids(n_ctx, n_state))
        self.blocks = nn.ModuleList(ResidualAttentionBlock(n_state, n_head) for _ in range(n_layer))
        self.ln_post = LayerNorm(n_state)

    def forward(self, mel: Tensor, lens: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """mel [N, T, n_mels] (frames first, as audiokit frontends give) -> ([N, T', D], lens').

        Frames at or after ``lens`` must be zero (the frontend contract); the first conv's output
        past ``lens`` is zeroed too and attention skips padded positions, so batch padding never
        changes an utterance's output.
        """
        x = F.gelu(self.conv1(mel.transpose(1, 2)))
        if lens is not None and bool((lens < mel.size(1)).any()):
            # conv2 must see zeros past the end, as its own padding gives an unpadded utterance
            x = x.masked_fill(~lengths_to_mask(lens, x.size(2))[:, None, :], 0.0)
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        n_ctx = self.positional_embedding.size(0)
        if x.size(1) > n_ctx:
            raise ValueError(f"input of {mel.size(1)} frames gives {x.size(1)} encoder positions; "
                             f"the model has {n_ctx} (n_audio_ctx)")
        x = x + self.positional_embedding[: x.size(1)].to(x.dtype)
        out_lens = mask = None
        if lens is not None:
            out_lens = conv_output_lengths(lens)
            mask = lengths_to_mask(out_lens, x.size(1))
            if bool(mask.all()):
                mask = None  # nothing to hide: take the plain (fast) attention path
        for block in self.blocks:
            x = block(x, mask)
        return self.ln_post(x), out_lens


class TextDecoder(nn.Module):
    def __init__(self, n_vocab: int, n_ctx: int, n_state: int, n_head: int, n_layer: int) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(n_vocab, n_state)
        # The embedding doubles as the output layer: rows of norm ~1 keep the initial logits
        # near unit scale (PyTorch's N(0, 1) default makes them ~sqrt(n_state), a huge loss).
        nn.init.normal_(self.token_embedding.weight, std=n_state ** -0.5)
        self.positional_embedding = nn.Parameter(torch.empty(n_ctx, n_state))
        nn.init.normal_(self.positional_embedding, std=0.01)
        self.blocks = nn.ModuleList(
            ResidualAttentionBlock(n_state, n_head, cross_attention=True) for _ in range(n_layer))
        self.ln = LayerNorm(n_state)

    def forward(self, tokens: Tensor, audio: Tensor | None, audio_lens: Tensor | None = None,
                cache: list[LayerCache] | None = None) -> tuple[Tensor, list[LayerCache]]:
        """tokens [N, L] (the ones after any cached prefix) -> (logits [N, L, V], new cache)."""
        offset = cache[0][2].size(1) if cache else 0
        if offset + tokens.size(1) > self.positional_embedding.size(0):
            raise ValueError(f"{offset + tokens.size(1)} tokens exceed the decoder's "
                             f"{self.positional_embedding.size(0)} positions (n_text_ctx)")
        positions = self.positional_embedding[offset: offset + tokens.size(1)]
        x = self.token_embedding(tokens) + positions
        audio_mask = None
        if audio_lens is not None:
            n_audio = audio.size(1) if audio is not None else cache[0][0].size(1)
            audio_mask = lengths_to_mask(audio_lens, n_audio)
        new_cache = []
        for i, block in enumerate(self.blocks):
            x, layer_cache = block.decode(x, audio, audio_mask, cache[i] if cache else None)
            new_cache.append(layer_cache)
        x = self.ln(x)
        logits = x @ self.token_embedding.weight.to(x.dtype).T
        return logits.float(), new_cache


class Whisper(nn.Module):
    """The network. Build from dims (``Whisper(n_mels=..., ..., n_vocab=...)`` or
    :meth:`from_dims`); ``self.dims`` is what an OpenAI-format checkpoint stores."""

    def __init__(self, n_mels: int, n_audio_ctx: int, n_audio_state: int, n_audio_head: int,
                 n_audio_layer: int, n_vocab: int, n_text_ctx: int, n_text_state: int,
                 n_text_head: int, n_text_layer: int) -> None:
        super().__init__()
        if n_audio_state != n_text_state:
            raise ValueError("cross-attention needs n_audio_state == n_text_state, got "
                             f"{n_audio_state} and {n_text_state}")
        self.dims = ModelDimensions(n_mels, n_audio_ctx, n_audio_state, n_audio_head,
                                    n_audio_layer, n_vocab, n_text_ctx, n_text_state,
                                    n_text_head, n_text_layer)
        self.encoder = AudioEncoder(n_mels, n_audio_ctx, n_audio_state, n_audio_head,
                                    n_audio_layer)
        self.decoder = TextDecoder(n_vocab, n_text_ctx, n_text_state, n_text_head, n_text_layer)

    @classmethod
    def from_dims(cls, dims: ModelDimensions | dict) -> Whisper:
        if isinstance(dims, dict):
            dims = ModelDimensions.from_dict(dims)
        return cls(**asdict(dims))

    def embed_audio(self, mel: Tensor, lens: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        return self.encoder(mel, lens)

    def forward(self, mel: Tensor, tokens: Tensor, mel_lens: Tensor | None = None) -> Tensor:
        """Teacher forcing: mel [N, T, n_mels], tokens [N, L] -> logits [N, L, n_vocab]."""
        audio, audio_lens = self.encoder(mel, mel_lens)
        return self.decoder(tokens, audio, audio_lens)[0]

    def step(self, ys: Tensor, state: list | None, memory: Tensor, memory_lens: Tensor | None
             ) -> tuple[Tensor, list]:
        """audiokit's decoder step API: next-token log-probs [N, V] after prefix ``ys`` [N, L].

        ``state`` is the per-layer key/value cache (tensors with dim 0 = N, so beam search can
        reorder it with index_select); only the tokens after the cached prefix are computed.
        """
        cached = state[0][2].size(1) if state else 0
        logits, cache = self.decoder(ys[:, cached:], memory, memory_lens, state)
        return logits[:, -1].log_softmax(-1), cache
