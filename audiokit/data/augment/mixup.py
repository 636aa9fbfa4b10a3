"""Mixup: train on convex combinations of pairs of examples and of their targets."""

import torch


class Mixup(torch.nn.Module):
    """Mix each example of a batch with a random partner (training only).

    ``lam ~ Beta(alpha, alpha)`` is drawn once per batch and the partner is a random permutation
    of the batch. The drawn values are kept in ``last_lam`` and ``last_perm`` (``1.0`` and the
    identity permutation when the batch was left unchanged). Randomness comes from the global
    torch RNG.

    Args:
        alpha: Beta distribution concentration; small values keep ``lam`` near 0 or 1.
        prob: probability of mixing a batch.
    """

    def __init__(self, alpha: float = 0.2, prob: float = 1.0) -> None:
        super().__init__()
        if alpha <= 0:
            raise ValueError(f"alpha must be positive, got {alpha}")
        self.alpha = alpha
        self.prob = prob
        self.last_lam = 1.0
        self.last_perm: torch.Tensor | None = None

    def forward(
        self, x: torch.Tensor, lens: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mix ``x [B, ...]`` and soft or one-hot ``targets [B, C]``; ``lens`` become pair maxima."""
        if not targets.is_floating_point():
            raise TypeError("Mixup needs one-hot or soft float targets of shape [B, C]")
        batch = x.shape[0]
        if not self.training or torch.rand(()) >= self.prob:
            self.last_lam = 1.0
            self.last_perm = torch.arange(batch, device=x.device)
            return x, lens, targets
        concentration = torch.tensor(float(self.alpha))
        lam = float(torch.distributions.Beta(concentration, concentration).sample())
        perm = torch.randperm(batch, device=x.device)
        self.last_lam, self.last_perm = lam, perm
        x_mixed = lam * x + (1 - lam) * x[perm]
        targets_mixed = lam * targets + (1 - lam) * targets[perm]
        # The mixed example is as long as the longer of the two.
        return x_mixed, torch.maximum(lens, lens[perm]), targets_mixed
