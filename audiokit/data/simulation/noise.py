"""Noise for enhancement sets: coloured (white/pink/brown), babble, and mixing at an exact SNR."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Power spectral density ∝ 1 / f**alpha: white 0, pink 1 (-10 dB/decade), brown 2 (-20 dB/decade).
NOISE_ALPHAS = {"white": 0.0, "pink": 1.0, "brown": 2.0}


def as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A numpy Generator from a seed (or the Generator itself, so callers can share a stream)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def coloured_noise(num_samples: int, alpha: float,
                   seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Zero-mean float32 noise of unit RMS whose power spectrum falls as ``1 / f**alpha``."""
    if num_samples <= 0:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    rng = as_rng(seed)
    noise = rng.standard_normal(num_samples)
    if alpha != 0:
        # Amplitude ∝ f**(-alpha/2) gives the power slope; DC would be infinite, so it is zeroed.
        spectrum = np.fft.rfft(noise)
        freqs = np.fft.rfftfreq(num_samples)
        gain = np.zeros_like(freqs)
        gain[1:] = freqs[1:] ** (-alpha / 2)
        noise = np.fft.irfft(spectrum * gain, n=num_samples)
    noise -= noise.mean()
    return (noise / max(rms(noise), 1e-12)).astype(np.float32)


def white(num_samples: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
    return coloured_noise(num_samples, NOISE_ALPHAS["white"], seed)


def pink(num_samples: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
    return coloured_noise(num_samples, NOISE_ALPHAS["pink"], seed)


def brown(num_samples: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
    return coloured_noise(num_samples, NOISE_ALPHAS["brown"], seed)


def fit_length(noise: np.ndarray, num_samples: int,
               seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Loop ``noise`` until it covers ``num_samples`` and cut it there; with a seed the cut
    starts at a random offset (so a short noise does not always start at its beginning)."""
    if len(noise) == 0:
        raise ValueError("empty noise signal")
    start = int(as_rng(seed).integers(len(noise))) if seed is not None else 0
    reps = -(-(start + num_samples) // len(noise))  # ceiling division
    return np.tile(noise, reps)[start : start + num_samples]


def babble(utterances: Sequence[np.ndarray], n_talkers: int, num_samples: int | None = None,
           seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Sum of ``n_talkers`` distinct utterances drawn from ``utterances``, each at equal RMS and
    looped from a random offset to ``num_samples`` (default: the longest drawn); unit RMS."""
    if n_talkers < 1 or n_talkers > len(utterances):
        raise ValueError(f"babble needs 1..{len(utterances)} talkers, got {n_talkers}")
    rng = as_rng(seed)
    picks = rng.choice(len(utterances), size=n_talkers, replace=False)
    chosen = [np.asarray(utterances[int(i)], dtype=np.float64) for i in picks]
    length = num_samples or max(len(u) for u in chosen)
    total = np.zeros(length)
    for u in chosen:
        level = rms(u)
        if level > 0:  # a silent talker adds nothing (and must not divide by zero)
            total += fit_length(u / level, length, rng)
    return (total / max(rms(total), 1e-12)).astype(np.float32)


def add_noise(clean: np.ndarray, noise: np.ndarray, snr_db: float,
              seed: int | np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(clean + scaled noise, scaled noise)`` at exactly ``snr_db`` (RMS over the whole clean
    signal). The noise is looped/cut to the clean length (random offset when seeded)."""
    clean = np.asarray(clean, dtype=np.float32)
    noise = fit_length(np.asarray(noise, dtype=np.float32), len(clean), seed)
    clean_rms, noise_rms = rms(clean), rms(noise)
    if clean_rms == 0 or noise_rms == 0:
        raise ValueError(f"cannot set an SNR with a silent signal (clean RMS {clean_rms}, "
                         f"noise RMS {noise_rms})")
    scaled = (noise * (clean_rms / (noise_rms * 10 ** (snr_db / 20)))).astype(np.float32)
    return clean + scaled, scaled


def snr_db(signal: np.ndarray, noise: np.ndarray) -> float:
    """Energy ratio of two signals in dB."""
    return 20 * np.log10(rms(signal) / rms(noise))


def make_noise(kind: str, num_samples: int, rng: np.random.Generator,
               babble_pool: Sequence[np.ndarray] = (), n_talkers: int = 3) -> np.ndarray:
    """Unit-RMS noise of a named kind: ``white``, ``pink``, ``brown`` or ``babble``."""
    if kind in NOISE_ALPHAS:
        return coloured_noise(num_samples, NOISE_ALPHAS[kind], rng)
    if kind == "babble":
        if not babble_pool:
            raise ValueError("babble noise needs a pool of other utterances")
        return babble(babble_pool, min(n_talkers, len(babble_pool)), num_samples, rng)
    raise ValueError(f"unknown noise kind {kind!r}; expected one of "
                     f"{sorted([*NOISE_ALPHAS, 'babble'])}")
