"""Pass-through frontend for models that learn their own filterbank from the waveform."""

import torch
from torch import Tensor, nn

from audiokit.frontends.framing import zero_padding
from audiokit.utils.masking import lengths_to_mask

# Added to the variance when normalising (as wav2vec 2.0's feature extractor does) so that
# digital silence stays finite.
VAR_EPS = 1e-7


class RawWaveform(nn.Module):
    """wav [B, T] -> feats [B, T, 1], lens unchanged, padding zeroed.

    normalize=True makes each utterance zero-mean and unit-variance over its valid samples.
    """

    def __init__(self, normalize: bool = False) -> None:
        super().__init__()
        self.normalize = normalize
        self.output_dim = 1

    def forward(self, wav: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        if self.normalize:
            mask = lengths_to_mask(lens, wav.size(1))
            count = lens.clamp(min=1).unsqueeze(1).to(wav.dtype)
            mean = wav.masked_fill(~mask, 0.0).sum(1, keepdim=True) / count
            centred = (wav - mean).masked_fill(~mask, 0.0)
            var = centred.square().sum(1, keepdim=True) / count
            wav = centred / torch.sqrt(var + VAR_EPS)
        return zero_padding(wav.unsqueeze(-1), lens), lens
