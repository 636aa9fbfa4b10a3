"""Separation/enhancement metrics per utterance: SI-SNR(i), SDR(i), PESQ, STOI, and their means."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence

import fast_bss_eval
import numpy as np
import torch
import torchaudio.functional as AF
from pesq import PesqError, pesq
from pystoi import stoi

from audiokit.losses.pit import pit_from_pairwise
from audiokit.losses.separation import pairwise_si_sdr
from audiokit.losses.separation import si_sdr as _si_sdr

# Argument order: the SI-SNR/SDR functions take (est, ref[, mix]) like the losses; pesq_score
# and stoi_score take (ref, est) like the pesq and pystoi packages they wrap. Signals are
# [S, T] (or [T] for one source); everything is computed in float64 numpy.

METRICS = ("si_snr", "si_snri", "sdr", "sdri", "pesq_nb", "pesq_wb", "stoi", "estoi")
DEFAULT_METRICS = ("si_snr", "si_snri", "sdr", "sdri")
SDR_FILTER_LENGTH = 512  # fast_bss_eval's (and BSS-eval v4's) default distortion filter
SDR_CLAMP_DB = 100.0  # a perfect estimate has SDR = +inf; cap it so means stay finite


def _as_sources(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """float64 numpy [S, T] from [S, T] or [T]."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValueError(f"expected a signal [T] or sources [S, T], got shape {x.shape}")
    return x[None] if x.ndim == 1 else x


def si_snr(est: np.ndarray | torch.Tensor, ref: np.ndarray | torch.Tensor) -> np.ndarray:
    """Zero-mean SI-SDR (SI-SNR) in dB of est[s] against ref[s]: [S]. No permutation search."""
    est_t, ref_t = torch.from_numpy(_as_sources(est)), torch.from_numpy(_as_sources(ref))
    return _si_sdr(est_t, ref_t, zero_mean=True).numpy()


def si_snr_improvement(est: np.ndarray | torch.Tensor, ref: np.ndarray | torch.Tensor,
                       mix: np.ndarray | torch.Tensor) -> np.ndarray:
    """SI-SNR(est[s], ref[s]) - SI-SNR(mix, ref[s]) in dB: [S]. ``est`` must already be in
    the order of ``ref`` (score_utterance solves the permutation first)."""
    ref_np = _as_sources(ref)
    mix_rep = np.repeat(_as_sources(mix), len(ref_np), axis=0)
    return si_snr(est, ref_np) - si_snr(mix_rep, ref_np)


def _sdr_matrix(est: np.ndarray, ref: np.ndarray, filter_length: int) -> np.ndarray:
    """BSS-eval SDR of every (reference j, estimate i) pair: [S_ref, S_est]."""
    # the pairwise path of fast_bss_eval is the one that works with numpy 2 for any S
    neg = fast_bss_eval.sdr_loss(est, ref, filter_length=filter_length, clamp_db=SDR_CLAMP_DB,
                                 pairwise=True)
    return -neg


def sdr(est: np.ndarray | torch.Tensor, ref: np.ndarray | torch.Tensor,
        perm: Sequence[int] | None = None,
        filter_length: int = SDR_FILTER_LENGTH) -> tuple[np.ndarray, np.ndarray]:
    """BSS-eval SDR (fast_bss_eval, SDR-only variant, capped at 100 dB) per reference.

    Returns ``(sdr [S] in reference order, perm [S])`` with perm[j] = the estimate scored
    against reference j. Without ``perm``, the permutation maximising the summed SDR is
    solved (as ``fast_bss_eval.sdr`` does); with it, that assignment is used as given.
    """
    est_np, ref_np = _as_sources(est), _as_sources(ref)
    matrix = _sdr_matrix(est_np, ref_np, filter_length)
    if perm is None:
        _, perm_t = pit_from_pairwise(-torch.from_numpy(matrix.T)[None])
        perm_np = perm_t[0].numpy()
    else:
        perm_np = np.asarray(perm, dtype=np.int64)
    return matrix[np.arange(len(perm_np)), perm_np], perm_np


def sdr_improvement(est: np.ndarray | torch.Tensor, ref: np.ndarray | torch.Tensor,
                    mix: np.ndarray | torch.Tensor, perm: Sequence[int] | None = None,
                    filter_length: int = SDR_FILTER_LENGTH) -> np.ndarray:
    """SDR(est) - SDR(mix) per reference, in reference order: [S] (see :func:`sdr`)."""
    ref_np = _as_sources(ref)
    est_sdr, _ = sdr(est, ref_np, perm, filter_length)
    mix_sdr = _sdr_matrix(_as_sources(mix), ref_np, filter_length)[:, 0]
    return est_sdr - mix_sdr


def _resample(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    return AF.resample(torch.from_numpy(x), orig, new).numpy() if orig != new else x


def pesq_score(ref: np.ndarray | torch.Tensor, est: np.ndarray | torch.Tensor,
               sample_rate: int, mode: str = "nb") -> float:
    """ITU-T P.862 PESQ (MOS-LQO) of one source via the ``pesq`` package.

    "nb" is scored at 8 or 16 kHz as given; "wb" (P.862.2) needs 16 kHz. Any other rate is
    resampled to 16 kHz with torchaudio.functional.resample first (note: "wb" on 8 kHz audio
    upsampled this way scores a band-limited signal and reads lower than true wideband).
    Raises pesq.PesqError (e.g. NoUtterancesError) when PESQ finds no speech.
    """
    if mode not in ("nb", "wb"):
        raise ValueError(f"PESQ mode must be 'nb' or 'wb', got {mode!r}")
    rate = sample_rate if (mode == "nb" and sample_rate in (8000, 16000)) else 16000
    ref_np = _resample(_as_sources(ref)[0], sample_rate, rate)
    est_np = _resample(_as_sources(est)[0], sample_rate, rate)
    return float(pesq(rate, ref_np, est_np, mode))


def stoi_score(ref: np.ndarray | torch.Tensor, est: np.ndarray | torch.Tensor, sr: int,
               extended: bool = False) -> float:
    """STOI (or extended STOI) of one source via ``pystoi`` (which resamples to 10 kHz).

    pystoi warns and returns 1e-5 when fewer than 30 non-silent frames remain; that is
    raised here as a ValueError instead of being reported as a score.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = stoi(_as_sources(ref)[0], _as_sources(est)[0], sr, extended=extended)
    for w in caught:
        if "Not enough STFT frames" in str(w.message):
            raise ValueError(f"STOI undefined: {w.message}")
    return float(value)


def _check_utterance(utt_id: str, est: np.ndarray, ref: np.ndarray, mix: np.ndarray,
                     max_trim: int, silence_db: float) -> tuple[np.ndarray, ...]:
    if est.shape[0] != ref.shape[0]:
        raise ValueError(f"{utt_id}: {est.shape[0]} estimated sources but {ref.shape[0]} "
                         "references")
    if mix.shape[0] != 1:
        raise ValueError(f"{utt_id}: the mixture must be one channel [T], got {mix.shape}")
    lengths = {"est": est.shape[-1], "ref": ref.shape[-1], "mix": mix.shape[-1]}
    shortest = min(lengths.values())
    if max(lengths.values()) - shortest > max_trim:
        raise ValueError(f"{utt_id}: lengths differ by more than {max_trim} samples: {lengths}")
    est, ref, mix = est[:, :shortest], ref[:, :shortest], mix[:, :shortest]
    for name, x in (("estimate", est), ("reference", ref), ("mixture", mix)):
        bad = np.flatnonzero(~np.isfinite(x).all(axis=-1))
        if bad.size:
            raise ValueError(f"{utt_id}: {name} source {int(bad[0])} contains NaN or inf")
    threshold = 10 ** (silence_db / 10)
    for j, power in enumerate(np.mean(ref**2, axis=-1)):
        if power < threshold:
            raise ValueError(f"{utt_id}: reference source {j} is silent (power "
                             f"{10 * math.log10(power + 1e-300):.1f} dB < {silence_db} dB); "
                             "its metrics are undefined")
    for i, power in enumerate(np.mean(est**2, axis=-1)):
        if power == 0.0:
            raise ValueError(f"{utt_id}: estimated source {i} is all zeros; its metrics "
                             "are undefined")
    return est, ref, mix


def score_utterance(utt_id: str, est: np.ndarray | torch.Tensor,
                    ref: np.ndarray | torch.Tensor, mix: np.ndarray | torch.Tensor,
                    sample_rate: int, metrics: Iterable[str] = DEFAULT_METRICS,
                    max_trim: int = 16, silence_db: float = -80.0) -> dict:
    """One row of metrics for an utterance: est [S, T], ref [S, T], mix [T].

    - Lengths may differ by at most ``max_trim`` samples (default 16, i.e. 2 ms at 8 kHz:
      encoder strides and framing round lengths); all signals are then cut to the shortest.
      A larger difference, a different source count, a non-finite sample, a reference whose
      mean power is below ``silence_db`` dBFS, or an all-zero estimate raise ValueError
      naming the utterance (and source) - a row never holds NaN.
    - The permutation is solved once, by SI-SNR, and every metric is reported under it.
    - Each metric is the mean over sources; ``perm[j]`` is the estimate matched to ref j.
    """
    metrics = tuple(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; expected some of {METRICS}")
    est_np, ref_np, mix_np = _check_utterance(utt_id, _as_sources(est), _as_sources(ref),
                                              _as_sources(mix), max_trim, silence_db)
    pair = pairwise_si_sdr(torch.from_numpy(est_np)[None], torch.from_numpy(ref_np)[None])
    _, perm_t = pit_from_pairwise(-pair)
    perm = perm_t[0].numpy()
    est_np = est_np[perm]  # now est_np[j] is scored against ref_np[j]
    row: dict = {"utt_id": utt_id, "perm": perm.tolist()}
    for name in metrics:
        try:
            if name == "si_snr":
                values = si_snr(est_np, ref_np)
            elif name == "si_snri":
                values = si_snr_improvement(est_np, ref_np, mix_np)
            elif name in ("sdr", "sdri"):
                identity = np.arange(len(ref_np))
                values = (sdr(est_np, ref_np, identity)[0] if name == "sdr"
                          else sdr_improvement(est_np, ref_np, mix_np, identity))
            elif name.startswith("pesq"):
                values = [pesq_score(r, e, sample_rate, name[-2:])
                          for r, e in zip(ref_np, est_np, strict=True)]
            else:
                values = [stoi_score(r, e, sample_rate, extended=name == "estoi")
                          for r, e in zip(ref_np, est_np, strict=True)]
        except (ValueError, PesqError) as err:
            raise ValueError(f"{utt_id}: {name} failed: {type(err).__name__}: {err}") from err
        value = float(np.mean(values))
        if not math.isfinite(value):
            raise ValueError(f"{utt_id}: {name} is not finite ({value})")
        row[name] = value
    return row


def summarize(rows: Sequence[dict]) -> dict:
    """Mean of every metric over ``rows`` (plus ``num_utts``); refuses, with the utterance
    named, on no rows, a missing metric or a non-finite value rather than averaging NaN."""
    if not rows:
        raise ValueError("summarize: no utterances were scored")
    names = [k for k in rows[0] if k not in ("utt_id", "perm")]
    for row in rows:
        extra = sorted(set(row) - set(names) - {"utt_id", "perm"})
        if extra:
            raise ValueError(f"summarize: {row.get('utt_id')} has metrics {extra} that "
                             f"{rows[0].get('utt_id')} lacks")
    summary: dict = {"num_utts": len(rows)}
    for name in names:
        values = []
        for row in rows:
            value = row.get(name)
            if value is None:
                raise ValueError(f"summarize: {row.get('utt_id')} has no {name!r}")
            if not math.isfinite(value):
                raise ValueError(f"summarize: {row.get('utt_id')} has {name} = {value}")
            values.append(value)
        summary[name] = float(np.mean(values))
    return summary


def parse_conditions(utt2condition: dict[str, str]) -> dict[str, dict[str, str]]:
    """``utt -> "noise=babble room=dry"`` lines into ``utt -> {factor: value}``; a token that
    is not ``factor=value`` is an error naming the utterance."""
    parsed = {}
    for utt, line in utt2condition.items():
        tokens = [t.partition("=") for t in line.split()]
        bad = [f + s + v for f, s, v in tokens if not (f and s and v)]
        if bad:
            raise ValueError(f"utterance '{utt}': {bad[0]!r} is not factor=value")
        parsed[utt] = {f: v for f, _, v in tokens}
    return parsed


def summarize_by_condition(rows: Sequence[dict], conditions: dict[str, dict[str, str]],
                           ) -> dict[str, dict[str, dict]]:
    """``factor -> value -> {"num_utts", metric means}`` over the rows of each condition (say
    noise kind, SNR band, dry or reverberant), so a mean over mixed conditions can be read
    apart. A metric a row lacks (PESQ/STOI undefined there) is averaged over the rows that have
    it, with its own count in ``num_<metric>``. Every scored row needs a condition."""
    missing = [r["utt_id"] for r in rows if r["utt_id"] not in conditions]
    if missing:
        raise ValueError(f"no condition for {len(missing)} scored utterance(s), e.g. {missing[:3]}")
    groups: dict[str, dict[str, list[dict]]] = {}
    for row in rows:
        for factor, value in conditions[row["utt_id"]].items():
            groups.setdefault(factor, {}).setdefault(value, []).append(row)
    out: dict[str, dict[str, dict]] = {}
    for factor, by_value in sorted(groups.items()):
        out[factor] = {}
        for value, members in sorted(by_value.items()):
            names = {k for r in members for k in r if k not in ("utt_id", "perm")}
            summary: dict = {"num_utts": len(members)}
            for name in sorted(names):
                values = [r[name] for r in members if name in r]
                summary[name] = float(np.mean(values))
                if len(values) < len(members):
                    summary[f"num_{name}"] = len(values)
            out[factor][value] = summary
    return out
