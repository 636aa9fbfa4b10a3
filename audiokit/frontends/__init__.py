"""Frontends: waveform [B, T] + lens -> features [B, T', output_dim] + feat_lens, padding zeroed."""

from audiokit.frontends.cmvn import GlobalCMVN, StatsAccumulator
from audiokit.frontends.fbank import KaldiFbank
from audiokit.frontends.logmel import LogMel
from audiokit.frontends.raw import RawWaveform
from audiokit.frontends.sincnet import SincNet

__all__ = ["GlobalCMVN", "KaldiFbank", "LogMel", "RawWaveform", "SincNet", "StatsAccumulator"]
