"""Speaker embedders: ``Model(input_dim, embedding_dim, ...)(feats, lens) -> [B, D]``."""

from audiokit.models.speaker.ecapa_tdnn import ECAPATDNN
from audiokit.models.speaker.pooling import AttentiveStatsPool, StatsPool
from audiokit.models.speaker.resnet import ResNetSpeaker
from audiokit.models.speaker.xvector import XVector

__all__ = ["ECAPATDNN", "AttentiveStatsPool", "ResNetSpeaker", "StatsPool", "XVector"]
