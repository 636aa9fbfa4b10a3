"""Apply a list of waveform augmentations one after the other."""

from collections.abc import Callable, Sequence

import torch

WaveTransform = Callable[[torch.Tensor, int], torch.Tensor]


class WaveAugment:
    """Run ``augmentations`` in order on one utterance: ``wav [T] -> wav [T']``."""

    def __init__(self, augmentations: Sequence[WaveTransform]) -> None:
        self.augmentations = list(augmentations)

    def __call__(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        for augmentation in self.augmentations:
            wav = augmentation(wav, sample_rate)
        return wav
