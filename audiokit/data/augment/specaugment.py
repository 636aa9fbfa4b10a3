"""SpecAugment (Park et al. 2019) on padded feature batches: time warping, then frequency and
time masking."""

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


def time_warp(feats: torch.Tensor, lens: torch.Tensor, window: int) -> torch.Tensor:
    """Warp ``[B, T, F]`` features in time, each utterance over its own ``lens[b]`` frames: a
    random frame ``c`` in ``[window, L - window)`` moves to a random ``c'`` in
    ``[c - window, c + window]`` (within ``[1, L - 2]``), and the frames on either side stretch
    or shrink linearly to fit (first and last frames stay put). Utterances of
    ``L <= 2 * window`` frames and the padding are left as they are. ESPnet interpolates
    bicubically (one utterance at a time when lengths differ); this is linear, one gather for
    the whole batch."""
    batch, frames, _ = feats.shape
    if window < 1 or frames <= 2 * window:
        return feats
    lens = lens.to(feats.device)
    ok = lens > 2 * window
    length = lens.clamp(min=2 * window + 1).float()
    center = window + (torch.rand(batch, device=feats.device) * (length - 2 * window)).floor()
    low = (center - window).clamp(min=1)
    high = torch.minimum(center + window, length - 2)
    warped = low + (torch.rand(batch, device=feats.device) * (high + 1 - low)).floor()
    # Output frame t reads source position pos(t): piecewise linear through (0, 0), (c', c)
    # and (L - 1, L - 1).
    t = torch.arange(frames, device=feats.device, dtype=torch.float32)[None, :]
    c, w, last = center[:, None], warped[:, None], length[:, None] - 1
    pos = torch.where(t < w, t * c / w, c + (t - w) * (last - c) / (last - w))
    keep = ~ok[:, None] | (t >= lens[:, None])
    pos = torch.where(keep, t, pos)  # warped rows end at L - 1 <= T - 1
    below = pos.floor().long().clamp(max=frames - 2)
    frac = (pos - below).unsqueeze(-1).to(feats.dtype)

    def frames_at(index: torch.Tensor) -> torch.Tensor:
        return feats.gather(1, index.unsqueeze(-1).expand_as(feats))

    return frames_at(below) * (1 - frac) + frames_at(below + 1) * frac


class SpecAugment(torch.nn.Module):
    """Warp, then mask random frequency bands and time spans of ``[B, T, F]`` features
    (training only).

    ``time_warp`` is the warp window in frames (0 = off; ESPnet's default is 5): each
    utterance's valid frames are warped on their own (:func:`time_warp`). Mask widths are drawn
    uniformly from ``[0, width]`` per mask and utterance. ``time_width`` below 1 is a fraction
    of each utterance's own length, otherwise a number of frames. Masks stay inside each
    utterance's valid frames (``t < lens[b]``), so padding is never touched.
    Randomness comes from the global torch RNG of the features' device.
    """

    def __init__(
        self,
        freq_masks: int = 2,
        freq_width: int = 8,
        time_masks: int = 2,
        time_width: float = 0.05,
        mask_value: float = 0.0,
        time_warp: int = 0,
    ) -> None:
        super().__init__()
        self.time_warp = time_warp
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
        if self.time_warp:
            feats = time_warp(feats, lens, self.time_warp)
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
