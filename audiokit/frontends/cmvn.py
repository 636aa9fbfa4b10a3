"""Global cepstral mean and variance normalisation, and the accumulator that computes its stats.

Stats file format (JSON): {"mean": [F floats], "std": [F floats], "count": number of frames}.
Typical use: run a frontend's `extract` over the training set, feed every batch to
`StatsAccumulator.update`, `save` the result, and point the frontend's `stats_file` at it.
"""

import json
from pathlib import Path

import torch
from torch import Tensor, nn

from audiokit.frontends.framing import zero_padding
from audiokit.utils.masking import lengths_to_mask

# Floor on the saved std: a dimension that is (nearly) constant over the training data, e.g. a
# mel bin above the band the recordings actually contain, must not be blown up by 1/std.
STD_FLOOR = 1e-5


class StatsAccumulator:
    """Accumulates per-dimension count, sum and sum of squares over valid frames, in float64."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.count = 0
        self.sum = torch.zeros(dim, dtype=torch.float64)
        self.sum_sq = torch.zeros(dim, dtype=torch.float64)

    def update(self, feats: Tensor, lens: Tensor) -> None:
        """feats [B, T, F], lens [B]; frames t >= lens[b] are ignored."""
        valid = feats.detach()[lengths_to_mask(lens, feats.size(1))].to("cpu", torch.float64)
        self.count += valid.size(0)
        self.sum += valid.sum(0)
        self.sum_sq += valid.square().sum(0)

    @property
    def mean(self) -> Tensor:
        if self.count == 0:
            raise RuntimeError("StatsAccumulator has seen no frames")
        return self.sum / self.count

    @property
    def std(self) -> Tensor:
        """Population std (ddof=0), floored at STD_FLOOR."""
        var = (self.sum_sq / self.count - self.mean.square()).clamp(min=0.0)
        return var.sqrt().clamp(min=STD_FLOOR)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        stats = {"mean": self.mean.tolist(), "std": self.std.tolist(), "count": self.count}
        path.write_text(json.dumps(stats, indent=2))


def load_stats(path: str | Path, dim: int) -> tuple[Tensor, Tensor]:
    """Read (mean, std) from a stats file written by StatsAccumulator.save."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"CMVN stats file not found: {path} "
            "(compute it with StatsAccumulator, or set stats_file to null)"
        )
    stats = json.loads(path.read_text())
    mean = torch.tensor(stats["mean"], dtype=torch.float32)
    std = torch.tensor(stats["std"], dtype=torch.float32)
    if mean.shape != (dim,) or std.shape != (dim,):
        raise ValueError(
            f"CMVN stats in {path} have dims {tuple(mean.shape)}/{tuple(std.shape)}, expected {dim}"
        )
    return mean, std


class GlobalCMVN(nn.Module):
    """(feats - mean) / std per dimension, padding kept at 0.

    `mean`/`std` are always registered buffers so checkpoints have the same keys with or without
    a stats file; with stats_file=None the module is the identity until a state dict is loaded.
    """

    def __init__(self, dim: int, stats_file: str | Path | None = None) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        if stats_file is not None:
            mean, std = load_stats(stats_file, dim)
            self.mean.copy_(mean)
            self.std.copy_(std)

    def forward(self, feats: Tensor, feat_lens: Tensor) -> tuple[Tensor, Tensor]:
        return zero_padding((feats - self.mean) / self.std, feat_lens), feat_lens
