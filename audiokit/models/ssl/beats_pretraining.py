"""BEATs masked prediction (Chen et al. 2022): hide ~75 % of the patches, predict a frozen
tokenizer's discrete label of each hidden patch; cross-entropy on the hidden patches only."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.models.ssl.beats import BEATs
from audiokit.models.ssl.masking import PatchMasker
from audiokit.utils.masking import lengths_to_mask


def masked_cross_entropy(logits: Tensor, labels: Tensor, masked: Tensor) -> Tensor:
    """Mean cross-entropy over the ``masked`` [B, N] tokens of ``logits`` [B, N, K] against
    ``labels`` [B, N]; every other token (visible, padding) adds nothing, whatever its logits."""
    if not bool(masked.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[masked], labels[masked])


class BEATsMaskedPrediction(nn.Module):
    """waveform as feats [B, T, 1] (``frontend=raw``) -> {"loss", "logits", "labels",
    "masked", "metrics"}.

    The encoder's token embeddings of the masked patches are replaced by one learned mask
    embedding, the whole sequence is encoded (as HuBERT does, and unlike BEATs' own
    visible-only encoder plus a transformer label predictor: the convolutional positions and
    relative bias need the full grid, and a light head leaves the work to the encoder), and a
    head maps the last layer to ``codebook_size`` logits.

    Args:
        input_dim: 1 (the waveform; the encoder computes its own fbank).
        encoder: the :class:`~audiokit.models.ssl.beats.BEATs` to pretrain (its weights are
            ``model.encoder.*``, which ``frontend=ssl_beats`` loads).
        tokenizer: frozen, with ``labels(fbank, frames) -> [B, N]`` on the same token grid:
            :class:`~audiokit.models.ssl.random_projection_tokenizer.RandomProjectionTokenizer`
            (iteration 1) or a trained
            :class:`~audiokit.models.ssl.distilled_tokenizer.DistilledTokenizer`.
        mask_ratio: share of each utterance's patches masked (exact, see
            :class:`~audiokit.models.ssl.masking.PatchMasker`).
        head: ``linear`` or ``mlp`` (one hidden GELU layer of the encoder's width).
    """

    def __init__(self, input_dim: int, encoder: BEATs, tokenizer: nn.Module,
                 mask_ratio: float = 0.75, head: str = "linear") -> None:
        super().__init__()
        if input_dim != 1:
            raise ValueError(f"BEATs pretraining reads the waveform (frontend=raw), got "
                             f"{input_dim}-dim features")
        if tokenizer.patch_size != encoder.patch:
            raise ValueError(f"tokenizer patch {tokenizer.patch_size} != encoder patch "
                             f"{encoder.patch}: labels and tokens would not line up")
        self.encoder, self.tokenizer = encoder, tokenizer
        self.tokenizer.requires_grad_(False)
        self.masker = PatchMasker(mask_ratio, "random")
        dim, classes = encoder.output_dim, tokenizer.codebook_size
        self.mask_embedding = nn.Parameter(torch.empty(dim))
        nn.init.trunc_normal_(self.mask_embedding, std=0.02)
        if head == "linear":
            self.head = nn.Linear(dim, classes)
        elif head == "mlp":
            self.head = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, classes))
        else:
            raise ValueError(f"head must be linear or mlp, got {head!r}")
        self.train()

    def train(self, mode: bool = True) -> BEATsMaskedPrediction:
        super().train(mode)
        self.tokenizer.eval()  # frozen: its codebook must not move
        return self

    def forward(self, feats: Tensor, lens: Tensor,
                generator: torch.Generator | None = None) -> dict[str, Tensor]:
        fbank, frames = self.encoder.fbank(feats.squeeze(-1), lens)
        labels = self.tokenizer.labels(fbank, frames)
        x, token_lens = self.encoder.embed(fbank, frames)
        if labels.shape != x.shape[:2]:
            raise RuntimeError(f"tokenizer gave {tuple(labels.shape)} labels for "
                               f"{tuple(x.shape[:2])} tokens")
        padding = ~lengths_to_mask(token_lens, x.shape[1])
        _, _, masked = self.masker(padding, self.encoder.freq_patches, generator)
        x = torch.where(masked.unsqueeze(-1), self.mask_embedding.to(x.dtype), x)
        logits = self.head(self.encoder.encode(x, token_lens)[-1])
        loss = masked_cross_entropy(logits, labels, masked)
        with torch.no_grad():
            hits = (logits.argmax(-1) == labels)[masked].float()
            metrics = {"accuracy": hits.mean() if len(hits) else hits.sum(),
                       "labels_used": torch.tensor(float(labels[~padding].unique().numel()))}
        return {"loss": loss, "logits": logits, "labels": labels, "masked": masked,
                "metrics": metrics}
