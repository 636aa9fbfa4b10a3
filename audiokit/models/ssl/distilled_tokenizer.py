"""BEATs' later-iteration tokenizer (Chen et al. 2022): a small encoder over the fbank patches
and a cosine vector quantiser; an estimator on the quantised tokens is trained to predict a
teacher's features (:mod:`audiokit.models.ssl.tokenizer_distillation`), so the codes keep what
the teacher learnt. Its labels are the code indices."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import Tensor, nn

from audiokit.models.ssl.beats import BEATs
from audiokit.models.ssl.cosine_vq import CosineVectorQuantiser
from audiokit.utils.masking import lengths_to_mask

log = logging.getLogger(__name__)


class DistilledTokenizer(nn.Module):
    """fbank [B, frames, bins] -> {"labels" [B, N], "quantised" [B, N, C], "commit",
    "token_lens" [B]}, on the same token grid as a BEATs encoder of the same patch size.

    Args:
        encoder: a (small) :class:`~audiokit.models.ssl.beats.BEATs`; only its patch
            embedding and transformer are used (the fbank comes from the caller).
        code_dim, codebook_size, decay: the
            :class:`~audiokit.models.ssl.cosine_vq.CosineVectorQuantiser`.
        teacher_dim: width of the features the estimator predicts.
        estimator_layers, estimator_heads: the estimator (a pre-LN transformer on the
            quantised tokens, then a linear map to ``teacher_dim``); needed only to train.
        pretrained: an experiment dir / ``model.pt`` of ``ssl/fsdd_beats_tokenizer``
            (``model.tokenizer.*``) to load.
    """

    def __init__(self, encoder: BEATs, code_dim: int = 32, codebook_size: int = 256,
                 decay: float = 0.99, teacher_dim: int = 96, estimator_layers: int = 1,
                 estimator_heads: int = 2, pretrained: str | Path | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.patch_size, self.codebook_size = encoder.patch, codebook_size
        self.to_code = nn.Linear(encoder.output_dim, code_dim)
        self.quantiser = CosineVectorQuantiser(codebook_size, code_dim, decay)
        layer = nn.TransformerEncoderLayer(code_dim, estimator_heads, 4 * code_dim, 0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.estimator = nn.TransformerEncoder(layer, estimator_layers,
                                               enable_nested_tensor=False)
        self.estimator_out = nn.Linear(code_dim, teacher_dim)
        if pretrained is not None:
            self.load(Path(pretrained))

    def forward(self, fbank: Tensor, frames: Tensor) -> dict[str, Tensor]:
        x, token_lens = self.encoder.embed(fbank, frames)
        z = self.to_code(self.encoder.encode(x, token_lens)[-1])
        valid = lengths_to_mask(token_lens, z.shape[1])
        quantised_valid, indices, commit = self.quantiser(z[valid])  # padding never quantised
        quantised = z.new_zeros(z.shape).masked_scatter(valid.unsqueeze(-1), quantised_valid)
        labels = indices.new_zeros(valid.shape).masked_scatter(valid, indices)
        return {"labels": labels, "quantised": quantised, "commit": commit,
                "token_lens": token_lens}

    def estimate(self, quantised: Tensor, token_lens: Tensor) -> Tensor:
        """Quantised tokens [B, N, C] -> the predicted teacher features [B, N, teacher_dim]."""
        padding = ~lengths_to_mask(token_lens, quantised.shape[1])
        return self.estimator_out(self.estimator(quantised, src_key_padding_mask=padding))

    @torch.no_grad()
    def labels(self, fbank: Tensor, frames: Tensor) -> Tensor:
        """A label per BEATs token [B, N] (padding tokens get 0)."""
        return self(fbank, frames)["labels"]

    def load(self, path: Path) -> None:
        from audiokit.inference.loading import MODEL_FILE, read_model_file

        path = path / MODEL_FILE if path.is_dir() else path
        state = read_model_file(path).get("state_dict") or {}
        prefix = "model.tokenizer."
        mine = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not mine:
            raise ValueError(f"{path}: no model.tokenizer.* weights (not an "
                             "ssl/fsdd_beats_tokenizer experiment)")
        try:
            self.load_state_dict(mine)
        except RuntimeError as e:
            raise ValueError(f"{path}: the tokenizer does not match this config: "
                             f"{str(e).splitlines()[0]}") from None
        log.info("%s: distilled tokenizer loaded (%d codes used in training)", path,
                 int((self.quantiser.usage > 1e-3).sum()))
