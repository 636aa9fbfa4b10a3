"""SpecAugment frequency and time masking on padded feature batches."""

import torch


def _band_masks(
    size: int, max_width: torch.Tensor, limit: torch.Tensor, num_masks: int
) -> torch.Tensor:
    """``[B, size]`` bool mask: the union of ``num_masks`` random bands per row.

    Each band has a width drawn uniformly from ``[0, max_width[b]]`` and lies within
    ``[0, limit[b])``, where ``max_width <= limit``.
    """
    shape = (max_width.numel(), num_masks)
    device = max_width.device
    width = (torch.rand(shape, device=device) * (max_width[:, None] + 1)).floor()
    start = (torch.rand(shape, device=device) * (limit[:, None] - width + 1)).floor()
    index = torch.arange(size, device=device)[None, None, :]
    inside = (index >= start[..., None]) & (index < (start + width)[..., None])
    return inside.any(dim=1)


class SpecAugment(torch.nn.Module):
    """Mask random frequency bands and time spans of ``[B, T, F]`` features (training only).

    Mask widths are drawn uniformly from ``[0, width]`` per mask and utterance. ``time_width``
    below 1 is a fraction of each utterance's own length, otherwise a number of frames. Masks stay
    inside each utterance's valid frames (``t < lens[b]``), so padding is never touched.
    Randomness comes from the global torch RNG of the features' device.
    """

    def __init__(
        self,
        freq_masks: int = 2,
        freq_width: int = 8,
        time_masks: int = 2,
        time_width: float = 0.05,
        mask_value: float = 0.0,
    ) -> None:
        super().__init__()
        self.freq_masks = freq_masks
        self.freq_width = freq_width
        self.time_masks = time_masks
        self.time_width = time_width
        self.mask_value = mask_value

    def forward(self, feats: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return feats
        batch, num_frames, num_bins = feats.shape
        lens = lens.to(feats.device)
        valid = torch.arange(num_frames, device=feats.device)[None, :] < lens[:, None]

        bins = torch.full((batch,), num_bins, device=feats.device)
        freq_mask = _band_masks(num_bins, bins.clamp(max=self.freq_width), bins, self.freq_masks)
        if self.time_width < 1:
            max_frames = (lens * self.time_width).floor()
        else:
            max_frames = torch.full_like(lens, int(self.time_width)).clamp(max=lens)
        time_mask = _band_masks(num_frames, max_frames, lens, self.time_masks)

        mask = (time_mask[:, :, None] | freq_mask[:, None, :]) & valid[:, :, None]
        return feats.masked_fill(mask, self.mask_value)
