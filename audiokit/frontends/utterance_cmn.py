"""Per-utterance cepstral mean normalisation over the valid frames of a padded batch."""

from torch import Tensor

from audiokit.frontends.framing import zero_padding


def utterance_cmn(feats: Tensor, lens: Tensor) -> Tensor:
    """Subtract each utterance's mean per feature bin over its first lens[b] frames.

    feats [B, T, F] must already be zero beyond lens[b] (as the frontends leave them), so the
    sum over T is the sum over valid frames; padding stays exactly 0 afterwards. A log-domain
    constant (the recording level, a fixed channel colouring) cancels out.
    """
    mean = feats.sum(1, keepdim=True) / lens.clamp(min=1)[:, None, None]
    return zero_padding(feats - mean, lens)
