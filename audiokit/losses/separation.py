"""Signal-level separation objectives (SI-SDR, SD-SDR, SNR), pairwise and matched, in dB."""

from __future__ import annotations

import torch
from torch import Tensor

# All functions return dB, higher = better; losses negate them (see audiokit.losses.pit).
#
# Stability: every energy ratio is (target + eps) / (noise + eps), so a silent reference
# (target = 0) or a perfect estimate (noise = 0) gives a finite value and a finite gradient,
# never NaN or inf. A silent reference against a non-silent estimate scores about
# 10*log10(eps / ||est||^2), i.e. very negative, which pushes the estimate towards silence.
# ``clamp_db`` (optional) additionally clips the result to [-clamp_db, clamp_db] so such
# items cannot dominate a batch (the gradient is zero where the clip is active).

OBJECTIVES = ("si_sdr", "sd_sdr", "snr")


def length_mask(lengths: Tensor, num_samples: int, ndim: int,
                device: torch.device | None = None) -> Tensor:
    """Boolean mask [B, 1, ..., T] (``ndim`` dims) that is True for samples < lengths[b]."""
    lengths = lengths.to(device) if device is not None else lengths
    mask = torch.arange(num_samples, device=lengths.device) < lengths.reshape(-1, 1)
    return mask.reshape(mask.shape[0], *([1] * (ndim - 2)), num_samples)


def _prepare(x: Tensor, lengths: Tensor | None, zero_mean: bool) -> Tensor:
    """Upcast half precision, zero the padding and optionally remove the valid part's mean."""
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()  # energies of long signals overflow / lose precision in half precision
    if lengths is None:
        return x - x.mean(dim=-1, keepdim=True) if zero_mean else x
    mask = length_mask(lengths, x.shape[-1], x.dim(), x.device).to(x.dtype)
    x = x * mask
    if zero_mean:
        count = mask.sum(dim=-1, keepdim=True).clamp(min=1)
        x = (x - x.sum(dim=-1, keepdim=True) / count) * mask  # padding stays zero
    return x


def _ratio_db(target: Tensor, noise: Tensor, eps: float, clamp_db: float | None) -> Tensor:
    value = 10 * torch.log10((target.pow(2).sum(-1) + eps) / (noise.pow(2).sum(-1) + eps))
    return value if clamp_db is None else value.clamp(-clamp_db, clamp_db)


def _objective(est: Tensor, ref: Tensor, kind: str, eps: float, clamp_db: float | None) -> Tensor:
    """``est`` and ``ref`` broadcast against each other; the reduction is over the last dim."""
    if kind == "snr":
        return _ratio_db(ref, est - ref, eps, clamp_db)
    # optimal scaling of the reference: alpha = <est, ref> / ||ref||^2
    alpha = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps)
    target = alpha * ref
    if kind == "si_sdr":
        return _ratio_db(target, est - target, eps, clamp_db)
    if kind == "sd_sdr":  # Le Roux et al. 2019: scaled target, error against the unscaled ref
        return _ratio_db(target, est - ref, eps, clamp_db)
    raise ValueError(f"unknown objective {kind!r}; expected one of {OBJECTIVES}")


def _check(est: Tensor, ref: Tensor, lengths: Tensor | None, pairwise: bool) -> None:
    if pairwise and (est.dim() != 3 or ref.dim() != 3):
        raise ValueError(f"expected est and ref of shape [B, S, T], got {tuple(est.shape)} "
                         f"and {tuple(ref.shape)}")
    if pairwise and (est.shape[0] != ref.shape[0] or est.shape[-1] != ref.shape[-1]):
        raise ValueError(f"est {tuple(est.shape)} and ref {tuple(ref.shape)} differ in batch "
                         "size or length")
    if not pairwise and est.shape != ref.shape:
        raise ValueError(f"est {tuple(est.shape)} and ref {tuple(ref.shape)} differ in shape")
    if lengths is not None and (lengths.dim() != 1 or lengths.shape[0] != est.shape[0]):
        raise ValueError(f"lengths must be [B={est.shape[0]}], got {tuple(lengths.shape)}")


def pairwise_objective(est: Tensor, ref: Tensor, objective: str = "si_sdr",
                       lengths: Tensor | None = None, zero_mean: bool | None = None,
                       eps: float = 1e-8, clamp_db: float | None = None) -> Tensor:
    """``objective`` of every estimate against every reference: [B, S_est, S_ref] in dB.

    ``est`` [B, S_est, T], ``ref`` [B, S_ref, T]; ``lengths`` [B] in samples (padding is
    excluded from every sum and from the mean removal). ``zero_mean=None`` uses the
    objective's default: True for si_sdr (i.e. SI-SNR), False for sd_sdr and snr.
    """
    _check(est, ref, lengths, pairwise=True)
    if zero_mean is None:
        zero_mean = objective == "si_sdr"
    est, ref = _prepare(est, lengths, zero_mean), _prepare(ref, lengths, zero_mean)
    return _objective(est.unsqueeze(2), ref.unsqueeze(1), objective, eps, clamp_db)


def matched_objective(est: Tensor, ref: Tensor, objective: str = "si_sdr",
                      lengths: Tensor | None = None, zero_mean: bool | None = None,
                      eps: float = 1e-8, clamp_db: float | None = None) -> Tensor:
    """``objective`` of est[b, s] against ref[b, s]: [B, S] from [B, S, T] ([B] from [B, T])."""
    _check(est, ref, lengths, pairwise=False)
    if zero_mean is None:
        zero_mean = objective == "si_sdr"
    est, ref = _prepare(est, lengths, zero_mean), _prepare(ref, lengths, zero_mean)
    return _objective(est, ref, objective, eps, clamp_db)


def pairwise_si_sdr(est: Tensor, ref: Tensor, lengths: Tensor | None = None,
                    zero_mean: bool = True, eps: float = 1e-8,
                    clamp_db: float | None = None) -> Tensor:
    """Scale-invariant SDR (SI-SNR when zero-mean) [B, S_est, S_ref] (Le Roux et al. 2019)."""
    return pairwise_objective(est, ref, "si_sdr", lengths, zero_mean, eps, clamp_db)


def pairwise_sd_sdr(est: Tensor, ref: Tensor, lengths: Tensor | None = None,
                    zero_mean: bool = False, eps: float = 1e-8,
                    clamp_db: float | None = None) -> Tensor:
    """Scale-dependent SDR 10log10(||a*s||^2 / ||s_hat - s||^2), a = <s_hat,s>/||s||^2."""
    return pairwise_objective(est, ref, "sd_sdr", lengths, zero_mean, eps, clamp_db)


def pairwise_snr(est: Tensor, ref: Tensor, lengths: Tensor | None = None,
                 zero_mean: bool = False, eps: float = 1e-8,
                 clamp_db: float | None = None) -> Tensor:
    """Plain SNR 10log10(||s||^2 / ||s_hat - s||^2) [B, S_est, S_ref]."""
    return pairwise_objective(est, ref, "snr", lengths, zero_mean, eps, clamp_db)


def si_sdr(est: Tensor, ref: Tensor, lengths: Tensor | None = None, zero_mean: bool = True,
           eps: float = 1e-8, clamp_db: float | None = None) -> Tensor:
    """SI-SDR of matched pairs: [B, S] from [B, S, T] (or [B] from [B, T])."""
    return matched_objective(est, ref, "si_sdr", lengths, zero_mean, eps, clamp_db)


def sd_sdr(est: Tensor, ref: Tensor, lengths: Tensor | None = None, zero_mean: bool = False,
           eps: float = 1e-8, clamp_db: float | None = None) -> Tensor:
    """SD-SDR of matched pairs: [B, S] from [B, S, T] (or [B] from [B, T])."""
    return matched_objective(est, ref, "sd_sdr", lengths, zero_mean, eps, clamp_db)


def snr(est: Tensor, ref: Tensor, lengths: Tensor | None = None, zero_mean: bool = False,
        eps: float = 1e-8, clamp_db: float | None = None) -> Tensor:
    """SNR of matched pairs: [B, S] from [B, S, T] (or [B] from [B, T])."""
    return matched_objective(est, ref, "snr", lengths, zero_mean, eps, clamp_db)
