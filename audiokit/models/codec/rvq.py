"""Residual vector quantiser (SoundStream / EnCodec): a stack of EMA codebooks, each coding
what the ones before it left over.

Each codebook:
- is initialised by k-means on the first training batch it sees (codes start where the data is);
- learns by exponential moving averages of the vectors assigned to each code (no gradient), with
  Laplace smoothing of the counts so a rarely used code does not divide by ~0;
- restarts dead codes: a code whose smoothed usage falls under ``dead_code_threshold`` is moved
  onto a random vector of the current batch;
- passes gradients straight through (``x + (q - x).detach()``) and gives a commitment loss
  ``mean((x - sg(q))^2)`` that keeps the encoder near its codes.

Quantizer dropout: in training, with probability ``quantizer_dropout`` a batch uses only the
first ``n_q`` codebooks, ``n_q`` drawn from ``n_q_choices``; one model then decodes every one of
those bitrates. Under DDP the statistics are summed over ranks and the k-means init is taken
from rank 0, so every copy of a codebook stays the same.
"""

from __future__ import annotations

import random

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _sample_vectors(x: torch.Tensor, num: int) -> torch.Tensor:
    """``num`` rows of ``x`` [N, D] drawn at random (with replacement when N < num)."""
    if x.shape[0] >= num:
        index = torch.randperm(x.shape[0], device=x.device)[:num]
    else:
        index = torch.randint(0, x.shape[0], (num,), device=x.device)
    return x[index]


def kmeans_plus_plus(x: torch.Tensor, num_clusters: int) -> torch.Tensor:
    """k-means++ seeds: each next seed drawn with probability ~ squared distance to the nearest
    seed so far (random seeds often land two in one cluster and Lloyd cannot undo it)."""
    if x.shape[0] <= num_clusters:
        return _sample_vectors(x, num_clusters)
    seeds = [x[torch.randint(0, x.shape[0], (1,), device=x.device)]]
    nearest = ((x - seeds[0]) ** 2).sum(1)
    for _ in range(num_clusters - 1):
        if float(nearest.sum()) <= 0:   # fewer distinct points than clusters
            seeds.append(x[torch.randint(0, x.shape[0], (1,), device=x.device)])
            continue
        seed = x[torch.multinomial(nearest, 1)]
        seeds.append(seed)
        nearest = torch.minimum(nearest, ((x - seed) ** 2).sum(1))
    return torch.cat(seeds)


def kmeans(x: torch.Tensor, num_clusters: int, iters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means on ``x`` [N, D] from k-means++ seeds: (centroids [K, D], counts [K]).
    A cluster left empty keeps its previous centroid."""
    centroids = kmeans_plus_plus(x, num_clusters)
    counts = torch.zeros(num_clusters, device=x.device, dtype=x.dtype)
    for _ in range(iters):
        assign = torch.cdist(x, centroids).argmin(dim=1)
        counts = torch.bincount(assign, minlength=num_clusters).to(x.dtype)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
    return centroids, counts


class EMAVectorQuantizer(nn.Module):
    """One codebook of ``codebook_size`` vectors of size ``dim``, learnt by EMA (see module doc).

    ``forward(x [N, D]) -> (quantized [N, D] with straight-through gradient, codes [N],
    commitment loss)``; in training it also updates the codebook from ``x``.
    """

    def __init__(self, dim: int, codebook_size: int, decay: float = 0.99,
                 epsilon: float = 1e-5, kmeans_init: bool = True, kmeans_iters: int = 10,
                 dead_code_threshold: float = 2.0) -> None:
        super().__init__()
        self.dim, self.codebook_size = dim, codebook_size
        self.decay, self.epsilon = decay, epsilon
        self.kmeans_iters = kmeans_iters
        self.dead_code_threshold = dead_code_threshold
        embed = torch.zeros(codebook_size, dim) if kmeans_init else torch.randn(codebook_size, dim)
        self.register_buffer("inited", torch.tensor(not kmeans_init))
        self.register_buffer("cluster_size", torch.ones(codebook_size))
        self.register_buffer("embed", embed)
        self.register_buffer("embed_avg", embed.clone())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code (Euclidean) for each row of ``x`` [N, D]."""
        return torch.cdist(x.float(), self.embed.float()).argmin(dim=1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return F.embedding(codes, self.embed)

    @torch.no_grad()
    def init_from(self, x: torch.Tensor) -> None:
        centroids, counts = kmeans(x.float(), self.codebook_size, self.kmeans_iters)
        if _distributed():
            dist.broadcast(centroids, 0)
            dist.broadcast(counts, 0)
        self.embed.copy_(centroids)
        self.embed_avg.copy_(centroids * counts.clamp(min=1)[:, None])
        self.cluster_size.copy_(counts)
        self.inited.fill_(True)

    @torch.no_grad()
    def ema_update(self, x: torch.Tensor, codes: torch.Tensor) -> None:
        """One EMA step: counts and sums of the vectors assigned to each code, smoothed."""
        onehot = F.one_hot(codes, self.codebook_size).to(x.dtype)
        counts = onehot.sum(0)
        sums = onehot.t() @ x
        if _distributed():
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = ((self.cluster_size + self.epsilon)
                    / (total + self.codebook_size * self.epsilon) * total)
        self.embed.copy_(self.embed_avg / smoothed[:, None])

    @torch.no_grad()
    def restart_dead_codes(self, x: torch.Tensor) -> int:
        """Move codes used less than the threshold onto random vectors of ``x``; their counts
        start at the threshold, so a new code is not restarted again before it had a chance.
        Returns how many codes were restarted."""
        dead = self.cluster_size < self.dead_code_threshold
        num_dead = int(dead.sum())
        if num_dead == 0:
            return 0
        new = _sample_vectors(x, num_dead)
        if _distributed():
            dist.broadcast(new, 0)
        self.embed[dead] = new
        self.embed_avg[dead] = new * self.dead_code_threshold
        self.cluster_size[dead] = self.dead_code_threshold
        return num_dead

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = x.float()   # codebook statistics in float32, also under bf16 autocast
        if self.training and not bool(self.inited):
            self.init_from(x.detach())
        codes = self.encode(x)
        quantized = self.decode(codes)
        if self.training:
            self.ema_update(x.detach(), codes)
            if self.dead_code_threshold > 0:
                self.restart_dead_codes(x.detach())
        commitment = F.mse_loss(x, quantized.detach())
        quantized = x + (quantized - x).detach()   # straight-through estimator
        return quantized, codes, commitment


class ResidualVectorQuantizer(nn.Module):
    """``num_quantizers`` EMA codebooks applied to the residuals in turn.

    ``forward(x [B, D, F], n_q=None) -> (quantized [B, D, F], codes [B, n_q, F], commitment)``,
    the commitment loss summed over the codebooks used. ``n_q=None`` in training draws the
    number of codebooks (quantizer dropout); in eval it uses all.
    """

    def __init__(self, dim: int, codebook_size: int = 1024, num_quantizers: int = 8,
                 n_q_choices: list[int] | None = None, quantizer_dropout: float = 0.5,
                 decay: float = 0.99, epsilon: float = 1e-5, kmeans_init: bool = True,
                 kmeans_iters: int = 10, dead_code_threshold: float = 2.0) -> None:
        super().__init__()
        self.num_quantizers, self.codebook_size = num_quantizers, codebook_size
        self.n_q_choices = sorted(n_q_choices or range(1, num_quantizers + 1))
        if self.n_q_choices[-1] > num_quantizers or self.n_q_choices[0] < 1:
            raise ValueError(f"n_q_choices {self.n_q_choices} must lie in 1..{num_quantizers}")
        self.quantizer_dropout = quantizer_dropout
        self.layers = nn.ModuleList(
            EMAVectorQuantizer(dim, codebook_size, decay, epsilon, kmeans_init, kmeans_iters,
                               dead_code_threshold)
            for _ in range(num_quantizers))

    def training_n_q(self) -> int:
        """How many codebooks this training batch uses (the same on every DDP rank)."""
        if self.quantizer_dropout <= 0 or random.random() >= self.quantizer_dropout:
            n_q = self.num_quantizers
        else:
            n_q = random.choice(self.n_q_choices)
        if _distributed():   # every rank must run the same codebooks (their stats all-reduce)
            n_q_tensor = torch.tensor(n_q, device=self.layers[0].embed.device)
            dist.broadcast(n_q_tensor, 0)
            n_q = int(n_q_tensor)
        return n_q

    def _check_n_q(self, n_q: int) -> None:
        if not 1 <= n_q <= self.num_quantizers:
            raise ValueError(f"n_q={n_q}: this quantizer has 1..{self.num_quantizers} codebooks")

    def forward(self, x: torch.Tensor, n_q: int | None = None):
        if n_q is None:
            n_q = self.training_n_q() if self.training else self.num_quantizers
        self._check_n_q(n_q)
        batch, dim, frames = x.shape
        residual = x.transpose(1, 2).reshape(-1, dim).float()
        quantized = torch.zeros_like(residual)
        codes, commitment = [], residual.new_zeros(())
        for layer in self.layers[:n_q]:
            q, c, loss = layer(residual)
            residual = residual - q.detach()
            quantized = quantized + q
            codes.append(c)
            commitment = commitment + loss
        quantized = quantized.reshape(batch, frames, dim).transpose(1, 2).to(x.dtype)
        codes = torch.stack(codes).reshape(n_q, batch, frames).transpose(0, 1)
        return quantized, codes, commitment

    @torch.no_grad()
    def encode(self, x: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """Codes [B, n_q, F] of ``x`` [B, D, F] (no codebook update)."""
        n_q = self.num_quantizers if n_q is None else n_q
        self._check_n_q(n_q)
        batch, dim, frames = x.shape
        residual = x.transpose(1, 2).reshape(-1, dim).float()
        codes = []
        for layer in self.layers[:n_q]:
            c = layer.encode(residual)
            residual = residual - layer.decode(c)
            codes.append(c)
        return torch.stack(codes).reshape(n_q, batch, frames).transpose(0, 1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Vectors [B, D, F] from codes [B, n_q, F] (n_q up to ``num_quantizers``)."""
        self._check_n_q(codes.shape[1])
        out = sum(layer.decode(codes[:, i]) for i, layer in enumerate(self.layers[: codes.shape[1]]))
        return out.transpose(1, 2)
