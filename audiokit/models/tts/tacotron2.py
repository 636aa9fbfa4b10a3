"""Tacotron 2 (Shen et al. 2018): token ids -> log-mel frames, with attention.

- Encoder: embedding, ``encoder_convs`` x (conv 5, batch norm, ReLU, dropout 0.5), BiLSTM.
- Location-sensitive attention (Chorowski et al. 2015): energies from the attention RNN state,
  the encoder outputs and convolved previous + cumulative attention weights.
- Prenet: 2 x (linear, ReLU, dropout 0.5), dropout on at inference too, as in the paper (the
  only source of variation that keeps the autoregressive decoder from locking into a loop).
- Decoder: attention LSTM and decoder LSTM cells; each step predicts ``reduction_factor`` (r)
  frames and a stop logit per frame. Teacher forcing in training: the input of step s is
  the last true frame of step s - 1.
- Postnet: 5 convolutions (tanh, batch norm, dropout 0.5), a residual on the decoder output.

Targets are normalised log-mel frames (the task normalises; see :mod:`audiokit.tasks.tts`).

``forward`` (training) returns the decoder and postnet frames [B, T, n_mels] (T padded to a
multiple of r), stop logits [B, T] and attention [B, steps, N]. :meth:`inference` decodes one
utterance until a stop logit > 0 (probability 0.5) or ``max_steps`` decoder steps, and
returns the frames, the attention [steps, N] and whether it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def length_mask(lens: Tensor, max_len: int | None = None) -> Tensor:
    """[B, max_len] True on valid positions."""
    max_len = int(lens.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lens.device)[None, :] < lens[:, None]


class ConvBlock(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, activation: nn.Module | None,
                 dropout: float) -> None:
        layers = [nn.Conv1d(in_ch, out_ch, kernel, padding=kernel // 2), nn.BatchNorm1d(out_ch)]
        if activation is not None:
            layers.append(activation)
        layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


class Encoder(nn.Module):
    def __init__(self, vocab_size: int, dim: int, convs: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.convs = nn.ModuleList(ConvBlock(dim, dim, kernel, nn.ReLU(), dropout) for _ in range(convs))
        self.lstm = nn.LSTM(dim, dim // 2, batch_first=True, bidirectional=True)

    def forward(self, tokens: Tensor, lens: Tensor) -> Tensor:
        mask = length_mask(lens, tokens.size(1))[:, None, :]
        x = self.embed(tokens).transpose(1, 2)
        for conv in self.convs:
            x = conv(x) * mask  # padding stays zero, so it never leaks into valid positions
        packed = pack_padded_sequence(x.transpose(1, 2), lens.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        return pad_packed_sequence(out, batch_first=True, total_length=tokens.size(1))[0]


class LocationSensitiveAttention(nn.Module):
    def __init__(self, query_dim: int, memory_dim: int, dim: int, filters: int, kernel: int) -> None:
        super().__init__()
        self.query = nn.Linear(query_dim, dim, bias=False)
        self.memory = nn.Linear(memory_dim, dim, bias=False)
        self.location_conv = nn.Conv1d(2, filters, kernel, padding=kernel // 2, bias=False)
        self.location = nn.Linear(filters, dim, bias=False)
        self.v = nn.Linear(dim, 1, bias=True)

    def forward(self, query: Tensor, memory: Tensor, processed_memory: Tensor, prev: Tensor,
                cumulative: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(context [B, memory_dim], weights [B, N])."""
        location = self.location(self.location_conv(torch.stack([prev, cumulative], 1)).transpose(1, 2))
        energies = self.v(torch.tanh(self.query(query)[:, None, :] + processed_memory + location)).squeeze(2)
        energies = energies.masked_fill(~mask, torch.finfo(energies.dtype).min)
        weights = torch.softmax(energies, 1)
        return torch.bmm(weights[:, None, :], memory).squeeze(1), weights


class Prenet(nn.Module):
    def __init__(self, in_dim: int, dim: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(in_dim if i == 0 else dim, dim) for i in range(layers))
        self.dropout = dropout

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = F.dropout(F.relu(layer(x)), self.dropout, training=True)  # on at inference too
        return x


class Postnet(nn.Module):
    def __init__(self, n_mels: int, dim: int, layers: int, kernel: int, dropout: float) -> None:
        super().__init__()
        blocks = []
        for i in range(layers):
            last = i == layers - 1
            blocks.append(ConvBlock(n_mels if i == 0 else dim, n_mels if last else dim, kernel,
                                    None if last else nn.Tanh(), dropout))
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:  # [B, T, n_mels]
        return x + self.blocks(x.transpose(1, 2)).transpose(1, 2)


@dataclass
class Tacotron2Output:
    before: Tensor      # [B, T, n_mels] decoder frames
    after: Tensor       # [B, T, n_mels] after the postnet
    stop_logits: Tensor  # [B, T]
    attention: Tensor   # [B, steps, N]


class Tacotron2(nn.Module):
    def __init__(self, vocab_size: int, n_mels: int = 80, embed_dim: int = 512,
                 encoder_convs: int = 3, encoder_kernel: int = 5, dropout: float = 0.5,
                 attention_rnn_dim: int = 1024, decoder_rnn_dim: int = 1024,
                 attention_dim: int = 128, location_filters: int = 32, location_kernel: int = 31,
                 prenet_dim: int = 256, prenet_layers: int = 2, postnet_dim: int = 512,
                 postnet_layers: int = 5, postnet_kernel: int = 5, reduction_factor: int = 1,
                 rnn_dropout: float = 0.1, max_decoder_steps: int = 1000) -> None:
        super().__init__()
        if reduction_factor < 1:
            raise ValueError(f"reduction_factor must be >= 1, got {reduction_factor}")
        self.n_mels, self.r = n_mels, reduction_factor
        self.max_decoder_steps = max_decoder_steps
        self.encoder = Encoder(vocab_size, embed_dim, encoder_convs, encoder_kernel, dropout)
        self.prenet = Prenet(n_mels, prenet_dim, prenet_layers, dropout)
        self.attention_rnn = nn.LSTMCell(prenet_dim + embed_dim, attention_rnn_dim)
        self.attention = LocationSensitiveAttention(attention_rnn_dim, embed_dim, attention_dim,
                                                    location_filters, location_kernel)
        self.decoder_rnn = nn.LSTMCell(attention_rnn_dim + embed_dim, decoder_rnn_dim)
        self.project = nn.Linear(decoder_rnn_dim + embed_dim, n_mels * reduction_factor)
        self.stop = nn.Linear(decoder_rnn_dim + embed_dim, reduction_factor)
        self.postnet = Postnet(n_mels, postnet_dim, postnet_layers, postnet_kernel, dropout)
        self.rnn_dropout = rnn_dropout

    # -- one decoder step -------------------------------------------------------------------
    def _init_state(self, memory: Tensor) -> dict:
        b, n, _ = memory.shape
        z = memory.new_zeros
        return {"att_h": z(b, self.attention_rnn.hidden_size), "att_c": z(b, self.attention_rnn.hidden_size),
                "dec_h": z(b, self.decoder_rnn.hidden_size), "dec_c": z(b, self.decoder_rnn.hidden_size),
                "context": z(b, memory.size(2)), "weights": z(b, n), "cumulative": z(b, n)}

    def _step(self, frame: Tensor, s: dict, memory: Tensor, processed: Tensor,
              mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = torch.cat([self.prenet(frame), s["context"]], 1)
        s["att_h"], s["att_c"] = self.attention_rnn(x, (s["att_h"], s["att_c"]))
        s["att_h"] = F.dropout(s["att_h"], self.rnn_dropout, self.training)
        s["context"], s["weights"] = self.attention(s["att_h"], memory, processed, s["weights"],
                                                    s["cumulative"], mask)
        s["cumulative"] = s["cumulative"] + s["weights"]
        s["dec_h"], s["dec_c"] = self.decoder_rnn(torch.cat([s["att_h"], s["context"]], 1),
                                                  (s["dec_h"], s["dec_c"]))
        s["dec_h"] = F.dropout(s["dec_h"], self.rnn_dropout, self.training)
        out = torch.cat([s["dec_h"], s["context"]], 1)
        return self.project(out).view(-1, self.r, self.n_mels), self.stop(out), s["weights"]

    def _encode(self, tokens: Tensor, token_lens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        memory = self.encoder(tokens, token_lens)
        return memory, self.attention.memory(memory), length_mask(token_lens, tokens.size(1))

    # -- training ---------------------------------------------------------------------------
    def forward(self, tokens: Tensor, token_lens: Tensor, mels: Tensor) -> Tacotron2Output:
        """Teacher-forced pass; ``mels`` [B, T, n_mels] with T a multiple of r."""
        if mels.size(1) % self.r:
            raise ValueError(f"mel frames ({mels.size(1)}) must be a multiple of r={self.r}")
        memory, processed, mask = self._encode(tokens, token_lens)
        steps = mels.size(1) // self.r
        # input of step s: the last frame of step s - 1 (zeros, the "go" frame, for s = 0)
        prev = torch.cat([mels.new_zeros(mels.size(0), 1, self.n_mels),
                          mels[:, self.r - 1 :: self.r][:, : steps - 1]], 1)
        state = self._init_state(memory)
        frames, stops, weights = [], [], []
        for s in range(steps):
            f, st, w = self._step(prev[:, s], state, memory, processed, mask)
            frames.append(f)
            stops.append(st)
            weights.append(w)
        before = torch.cat(frames, 1)
        return Tacotron2Output(before, self.postnet(before), torch.cat(stops, 1), torch.stack(weights, 1))

    # -- synthesis --------------------------------------------------------------------------
    @torch.no_grad()
    def inference(self, tokens: Tensor, max_steps: int | None = None,
                  stop_threshold: float = 0.5) -> tuple[Tensor, Tensor, bool]:
        """One utterance, ``tokens`` [N] -> (frames [T, n_mels], attention [steps, N], stopped)."""
        tokens = tokens[None]
        lens = torch.tensor([tokens.size(1)], device=tokens.device)
        memory, processed, mask = self._encode(tokens, lens)
        state = self._init_state(memory)
        frame = memory.new_zeros(1, self.n_mels)
        frames, weights, stopped = [], [], False
        logit_threshold = float(torch.logit(torch.tensor(stop_threshold)))
        for _ in range(max_steps or self.max_decoder_steps):
            f, st, w = self._step(frame, state, memory, processed, mask)
            weights.append(w[0])
            hits = (st[0] > logit_threshold).nonzero()
            if len(hits):
                frames.append(f[0, : int(hits[0]) + 1])
                stopped = True
                break
            frames.append(f[0])
            frame = f[:, -1]
        before = torch.cat(frames, 0)
        return self.postnet(before[None])[0], torch.stack(weights, 0), stopped
