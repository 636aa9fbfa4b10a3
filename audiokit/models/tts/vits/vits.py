"""The VITS generator: text (+ speaker) -> waveform, trained on (text, log-mel, waveform).

Training (``forward``): the posterior encoder reads the spectrogram and draws the latent
z; the flow maps z into the text prior's space; monotonic alignment search
(:func:`audiokit.models.tts.alignment.monotonic_alignment`) finds the hard text-frame
alignment that best explains f(z) under the prior; the prior's per-token statistics are
expanded along it for the KL term, and its durations train the duration predictor. The
HiFi-GAN decoder turns a random window of ``segment_frames`` latent frames into audio, and
the matching window of the target waveform is handed back as ``"target"`` (the GAN task's
contract), so the decoder never has to run on whole utterances in training.

Synthesis (``infer``): prior statistics per token, durations from the duration predictor
(noise ``noise_scale_w``, times ``length_scale``), z_p drawn around the expanded prior mean
(noise ``noise_scale``), the inverse flow, the decoder.

With ``add_blank`` a blank token (id ``vocab_size``) sits between the symbols and at both
ends, as in VITS: it gives the aligner somewhere to put the transitions between sounds.
``n_speakers > 1`` adds a speaker embedding table; the embedding conditions the posterior
encoder, the flow, the duration predictor and the decoder.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from audiokit.models.tts.alignment import monotonic_alignment
from audiokit.models.tts.vits.coupling_flow import ResidualCouplingFlow
from audiokit.models.tts.vits.duration_predictor import (
    DurationPredictor,
    StochasticDurationPredictor,
)
from audiokit.models.tts.vits.posterior_encoder import PosteriorEncoder
from audiokit.models.tts.vits.text_encoder import TextEncoder
from audiokit.models.vocoder.hifigan import HiFiGANGenerator


def sequence_mask(lens: Tensor, length: int | None = None) -> Tensor:
    length = int(lens.max()) if length is None else length
    return torch.arange(length, device=lens.device)[None, :] < lens[:, None]


def intersperse_blank(tokens: Tensor, lens: Tensor, blank: int) -> tuple[Tensor, Tensor]:
    """[B, N] -> [B, 2N + 1] with ``blank`` before, between and after the symbols."""
    out = tokens.new_full((tokens.size(0), 2 * tokens.size(1) + 1), blank)
    out[:, 1::2] = tokens
    return out, 2 * lens + 1


def path_from_durations(durations: Tensor, frame_mask: Tensor) -> Tensor:
    """Integer durations [B, N] -> the 0/1 alignment [B, N, T]: frame t belongs to token n
    when the durations of tokens < n sum to <= t < those of tokens <= n."""
    ends = durations.cumsum(1)
    starts = ends - durations
    t = torch.arange(frame_mask.size(1), device=durations.device)[None, None, :]
    path = (t >= starts[:, :, None]) & (t < ends[:, :, None]) & frame_mask[:, None, :]
    return path.to(durations.dtype)


def alignment_scores(z_p: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """log N(z_p[:, :, t]; mean[:, :, n], std[:, :, n]) summed over channels -> [B, N, T],
    expanded into four matmul-friendly terms (no [B, C, N, T] tensor)."""
    inv_var = torch.exp(-2 * log_std)                                        # [B, C, N]
    const = (-0.5 * math.log(2 * math.pi) - log_std).sum(1)[:, :, None]      # [B, N, 1]
    quad = inv_var.transpose(1, 2) @ (-0.5 * z_p ** 2)                       # [B, N, T]
    cross = (mean * inv_var).transpose(1, 2) @ z_p                           # [B, N, T]
    mean_sq = (-0.5 * mean ** 2 * inv_var).sum(1)[:, :, None]                # [B, N, 1]
    return const + quad + cross + mean_sq


def take_segments(x: Tensor, starts: Tensor, length: int) -> Tensor:
    """``x`` [B, C, T] (T >= start + length) -> [B, C, length] from each item's start."""
    index = starts[:, None] + torch.arange(length, device=x.device)[None, :]
    return x.gather(2, index[:, None, :].expand(-1, x.size(1), -1))


class VITS(nn.Module):
    def __init__(self, vocab_size: int, n_mels: int, n_speakers: int = 1, latent_channels: int = 192,
                 speaker_channels: int = 256, segment_frames: int = 32, add_blank: bool = True,
                 text_encoder: dict | None = None, posterior_encoder: dict | None = None,
                 flow: dict | None = None, duration_predictor: dict | None = None,
                 decoder: dict | None = None) -> None:
        super().__init__()
        self.vocab_size, self.n_speakers = vocab_size, n_speakers
        self.segment_frames, self.add_blank = segment_frames, add_blank
        cond = speaker_channels if n_speakers > 1 else 0
        self.speaker_embedding = nn.Embedding(n_speakers, cond) if cond else None
        self.text_encoder = TextEncoder(vocab_size + int(add_blank), latent_channels, **(text_encoder or {}))
        self.posterior_encoder = PosteriorEncoder(n_mels, latent_channels, cond_channels=cond,
                                                  **(posterior_encoder or {}))
        self.flow = ResidualCouplingFlow(latent_channels, cond_channels=cond, **(flow or {}))
        dp = dict(duration_predictor or {})
        kind = dp.pop("kind", "stochastic")
        if kind not in ("stochastic", "deterministic"):
            raise ValueError(f"duration_predictor.kind must be stochastic or deterministic, got {kind!r}")
        dp_cls = StochasticDurationPredictor if kind == "stochastic" else DurationPredictor
        self.duration_predictor = dp_cls(self.text_encoder.hidden, cond_channels=cond, **dp)
        self.decoder = HiFiGANGenerator(in_channels=latent_channels, **(decoder or {}))
        self.decoder_condition = nn.Conv1d(cond, latent_channels, 1) if cond else None
        self.hop_length = self.decoder.hop_length

    # -- pieces ---------------------------------------------------------------------------
    def speaker_condition(self, speakers: Tensor | None, batch: int) -> Tensor | None:
        """[B, cond, 1], or None for a single-speaker model."""
        if self.speaker_embedding is None:
            return None
        if speakers is None:
            raise ValueError(f"this VITS model has {self.n_speakers} speakers: give a speaker id")
        if speakers.numel() != batch:
            raise ValueError(f"{speakers.numel()} speaker ids for a batch of {batch}")
        return self.speaker_embedding(speakers)[:, :, None]

    def encode_text(self, tokens: Tensor, lens: Tensor):
        if self.add_blank:
            tokens, lens = intersperse_blank(tokens, lens, self.vocab_size)
        return (*self.text_encoder(tokens, lens), lens)

    def decode(self, z: Tensor, g: Tensor | None) -> Tensor:
        """Latent [B, C, T] -> waveform [B, T * hop]."""
        if g is not None and self.decoder_condition is not None:
            z = z + self.decoder_condition(g)
        return self.decoder(z.transpose(1, 2))

    # -- training -------------------------------------------------------------------------
    def forward(self, tokens: Tensor, token_lens: Tensor, feats: Tensor, feat_lens: Tensor,
                target: Tensor, speakers: Tensor | None = None) -> dict:
        """tokens [B, N]; feats [B, T, n_mels] (the log-mel the posterior reads); target
        [B, T * hop] (the waveform those frames cover) -> {"audio": [B, S * hop], "target":
        the matching window of ``target``, "losses": {"kl", "dur"}} (S = segment_frames)."""
        g = self.speaker_condition(speakers, tokens.size(0))
        x, mean_p, log_std_p, x_mask, token_lens = self.encode_text(tokens, token_lens)
        frames = feats.size(1)
        y_mask = sequence_mask(feat_lens, frames)[:, None].to(feats.dtype)
        z, mean_q, log_std_q = self.posterior_encoder(feats.transpose(1, 2), y_mask, g)
        z_p = self.flow(z, y_mask, g)

        with torch.no_grad():
            path = monotonic_alignment(alignment_scores(z_p.float(), mean_p.float(), log_std_p.float()),
                                       token_lens, feat_lens)                     # [B, N, T]
        durations = path.sum(2)[:, None]                                           # [B, 1, N]
        dur = self.duration_predictor(x, x_mask, durations, g).sum() / x_mask.sum()

        mean_p, log_std_p = mean_p @ path, log_std_p @ path                        # [B, C, T]
        kl = (log_std_p - log_std_q - 0.5
              + 0.5 * (z_p - mean_p) ** 2 * torch.exp(-2 * log_std_p)) * y_mask
        kl = kl.sum() / y_mask.sum()

        # a random window of each utterance (from its start when it is shorter)
        seg = self.segment_frames
        if frames < seg:
            z = nn.functional.pad(z, (0, seg - frames))
        need = z.size(2) * self.hop_length
        target = nn.functional.pad(target[:, :need], (0, max(0, need - target.size(1))))
        room = (feat_lens - seg).clamp(min=0)
        starts = (torch.rand(room.shape, device=z.device) * (room + 1).float()).long().clamp(max=room)
        z_seg = take_segments(z, starts, seg)
        audio = self.decode(z_seg, g)
        target_seg = take_segments(target[:, None], starts * self.hop_length, seg * self.hop_length)[:, 0]
        return {"audio": audio, "target": target_seg, "losses": {"kl": kl, "dur": dur}}

    # -- synthesis ------------------------------------------------------------------------
    @torch.no_grad()
    def infer(self, tokens: Tensor, token_lens: Tensor, speakers: Tensor | None = None,
              noise_scale: float = 0.667, noise_scale_w: float = 0.8, length_scale: float = 1.0,
              max_frames: int | None = None) -> tuple[Tensor, Tensor]:
        """tokens [B, N] -> (waveform [B, T], samples per item [B]). ``max_frames`` bounds
        each utterance's length (a guard against runaway durations)."""
        g = self.speaker_condition(speakers, tokens.size(0))
        x, mean_p, log_std_p, x_mask, _ = self.encode_text(tokens, token_lens)
        log_d = self.duration_predictor(x, x_mask, g=g, reverse=True, noise_scale=noise_scale_w)
        durations = torch.ceil(torch.exp(log_d) * x_mask * length_scale)[:, 0]     # [B, N]
        frame_lens = durations.sum(1).clamp(min=1).long()
        if max_frames is not None:
            frame_lens = frame_lens.clamp(max=max_frames)
        y_mask = sequence_mask(frame_lens)
        path = path_from_durations(durations, y_mask)                              # [B, N, T]
        mean_p, log_std_p = mean_p @ path, log_std_p @ path
        y_mask = y_mask[:, None].to(mean_p.dtype)
        z_p = mean_p + torch.randn_like(mean_p) * torch.exp(log_std_p) * noise_scale
        z = self.flow(z_p * y_mask, y_mask, g, reverse=True) * y_mask
        return self.decode(z, g), frame_lens * self.hop_length

    def remove_weight_norm(self) -> None:
        """Fold every weight-norm parametrisation into a plain weight: the same outputs,
        without recomputing the weights at each call (faster synthesis; not for training)."""
        for m in self.modules():
            if parametrize.is_parametrized(m, "weight"):
                parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
