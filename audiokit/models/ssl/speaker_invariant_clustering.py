"""Speaker-invariant clustering (after SPIN, Chang et al. 2023): two views of an utterance
with different simulated voices (vocal tract length perturbation) must fall in the same
learned clusters, frame by frame, so the encoder keeps what is said and drops who says it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.losses.swapped_prediction import sinkhorn, swapped_prediction_loss
from audiokit.models.classification.ast import ASTEncoder, load_pretrained_encoder
from audiokit.utils.masking import lengths_to_mask


class SpeakerInvariantClustering(nn.Module):
    """An AST encoder trained to assign two voice-perturbed views of the same audio to the same
    clusters (swapped prediction with Sinkhorn-balanced targets).

    Frequency warping moves content between frequency rows of patches but not in time, so
    the two views are compared per time patch: the encoder's outputs averaged over the
    frequency rows. Frame features are projected, L2-normalised and scored against K
    L2-normalised cluster prototypes.

    Args:
        input_dim: feature bins per frame.
        patch_size, patch_stride, d_model, num_layers, num_heads, ffn_dim, dropout,
            max_frames: the encoder, as in :class:`ASTEncoder` (and as in the AST it will
            initialise).
        num_clusters: prototypes K.
        proj_dim: width of the projection the prototypes score.
        temperature: softmax temperature of the predictions.
        sinkhorn_eps, sinkhorn_iters: the balanced targets (:func:`sinkhorn`).
        pretrained: a pretraining ``model.pt`` (e.g. Audio-MAE) whose encoder starts this one.
        freeze: ``"none"``, ``"all"`` or the first N blocks, as :meth:`ASTEncoder.freeze`
            (SPIN tunes only the top of a pretrained encoder).
    """

    def __init__(
        self,
        input_dim: int,
        patch_size: Sequence[int] = (16, 16),
        patch_stride: Sequence[int] = (16, 16),
        d_model: int = 192,
        num_layers: int = 4,
        num_heads: int = 4,
        ffn_dim: int = 768,
        dropout: float = 0.0,
        max_frames: int = 256,
        num_clusters: int = 256,
        proj_dim: int = 256,
        temperature: float = 0.1,
        sinkhorn_eps: float = 0.05,
        sinkhorn_iters: int = 3,
        pretrained: str | Path | None = None,
        freeze: str | int = "none",
    ) -> None:
        super().__init__()
        self.encoder = ASTEncoder(input_dim, patch_size, patch_stride, d_model, num_layers,
                                  num_heads, ffn_dim, dropout, max_frames)
        if pretrained is not None:
            load_pretrained_encoder(self.encoder, pretrained)
        self.encoder.freeze(freeze)
        self.project = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(),
                                     nn.Linear(d_model, proj_dim))
        self.prototypes = nn.Parameter(torch.randn(num_clusters, proj_dim) / proj_dim ** 0.5)
        self.temperature = temperature
        self.sinkhorn_eps = sinkhorn_eps
        self.sinkhorn_iters = sinkhorn_iters

    def frames(self, feats: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        """``feats`` [B, T, F] -> (encoder outputs averaged over frequency rows [B, T', D],
        valid time patches [B, T'])."""
        x, patch_lens = self.encoder.patch_input(feats, lens)
        tokens, padding = self.encoder.embed(x, patch_lens)
        out = self.encoder.encode(tokens, padding)[:, 1:]          # frequency-major tokens
        batch, _, width = out.shape
        out = out.reshape(batch, self.encoder.freq_patches, -1, width).mean(1)
        return out, lengths_to_mask(patch_lens, out.shape[1])

    def cluster_scores(self, frames: Tensor) -> Tensor:
        """Frame features [M, D] -> cosine similarities to the prototypes [M, K]."""
        z = F.normalize(self.project(frames), dim=-1)
        return z @ F.normalize(self.prototypes, dim=-1).t()

    def forward(self, feats_a: Tensor, feats_b: Tensor, lens: Tensor) -> dict[str, Tensor]:
        """Two views [B, T, F] of the same audio (same frames), ``lens`` [B] -> {"loss",
        "metrics": {"agreement": share of frames whose likeliest cluster is the same in both
        views, "perplexity": of the batch's average cluster assignment}}."""
        frames_a, valid = self.frames(feats_a, lens)
        frames_b, _ = self.frames(feats_b, lens)
        scores_a = self.cluster_scores(frames_a[valid])
        scores_b = self.cluster_scores(frames_b[valid])
        targets_a = sinkhorn(scores_a, self.sinkhorn_eps, self.sinkhorn_iters)
        targets_b = sinkhorn(scores_b, self.sinkhorn_eps, self.sinkhorn_iters)
        loss = swapped_prediction_loss(scores_a / self.temperature, scores_b / self.temperature,
                                       targets_a, targets_b)
        with torch.no_grad():
            agreement = (scores_a.argmax(-1) == scores_b.argmax(-1)).float().mean()
            usage = F.softmax(scores_a.float() / self.temperature, -1).mean(0)
            perplexity = torch.exp(-(usage * usage.clamp(min=1e-12).log()).sum())
        return {"loss": loss, "metrics": {"agreement": agreement, "perplexity": perplexity}}
