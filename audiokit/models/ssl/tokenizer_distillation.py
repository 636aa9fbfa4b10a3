"""Training BEATs' tokenizer by distillation: the quantised tokens of a
:class:`~audiokit.models.ssl.distilled_tokenizer.DistilledTokenizer`, through its estimator,
should point where a frozen teacher's last-layer features point (cosine), for
``task=masked_pretraining`` (labels ignored)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.models.ssl.beats import BEATs
from audiokit.models.ssl.distilled_tokenizer import DistilledTokenizer
from audiokit.utils.masking import lengths_to_mask


class TokenizerDistillation(nn.Module):
    """waveform as feats [B, T, 1] (``frontend=raw``) -> {"loss", "metrics", "masked"}.

    loss = mean over valid tokens of ``1 - cos(estimate, teacher)`` + ``commit_weight`` x the
    quantiser's commitment loss. The teacher (a trained BEATs encoder, ``teacher.pretrained``
    = the iteration's experiment dir) sees the whole unmasked input and stays frozen; its
    fbank is the tokenizer's input too.
    """

    def __init__(self, input_dim: int, teacher: BEATs, tokenizer: DistilledTokenizer,
                 commit_weight: float = 1.0, teacher_layer: int = -1) -> None:
        super().__init__()
        if input_dim != 1:
            raise ValueError(f"the tokenizer distillation reads the waveform (frontend=raw), "
                             f"got {input_dim}-dim features")
        if teacher.patch != tokenizer.patch_size:
            raise ValueError(f"teacher patch {teacher.patch} != tokenizer patch "
                             f"{tokenizer.patch_size}: their tokens would not line up")
        self.teacher, self.tokenizer = teacher, tokenizer
        self.teacher.requires_grad_(False)
        self.commit_weight, self.teacher_layer = commit_weight, teacher_layer
        self.train()

    def train(self, mode: bool = True) -> TokenizerDistillation:
        super().train(mode)
        self.teacher.eval()  # frozen: no dropout
        return self

    def forward(self, feats: Tensor, lens: Tensor,
                generator: torch.Generator | None = None) -> dict[str, Tensor]:
        wav = feats.squeeze(-1)
        with torch.no_grad():
            fbank, frames = self.teacher.fbank(wav, lens)
            x, token_lens = self.teacher.embed(fbank, frames)
            target = self.teacher.encode(x, token_lens)[self.teacher_layer]
        out = self.tokenizer(fbank, frames)
        estimate = self.tokenizer.estimate(out["quantised"], token_lens)
        valid = lengths_to_mask(token_lens, target.shape[1])
        distance = 1.0 - F.cosine_similarity(estimate[valid], target[valid], dim=-1)
        distill = distance.mean() if len(distance) else estimate.sum() * 0.0
        codes = out["labels"][valid]
        metrics = {"distill_loss": distill.detach(), "commit_loss": out["commit"].detach(),
                   "codes_used": torch.tensor(float(codes.unique().numel()))}
        return {"loss": distill + self.commit_weight * out["commit"], "metrics": metrics,
                "masked": valid}
