"""Data augmentation: waveform-level (per utterance, in DataLoader workers) and batch-level
(SpecAugment, Mixup, inside the training step)."""

from audiokit.data.augment.chain import WaveAugment
from audiokit.data.augment.mixup import Mixup
from audiokit.data.augment.noise import AddNoise, coloured_noise
from audiokit.data.augment.reverb import Reverberate
from audiokit.data.augment.specaugment import SpecAugment
from audiokit.data.augment.speed import SpeedPerturb

__all__ = [
    "AddNoise",
    "Mixup",
    "Reverberate",
    "SpecAugment",
    "SpeedPerturb",
    "WaveAugment",
    "coloured_noise",
]
