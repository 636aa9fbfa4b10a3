"""Additive noise at a random SNR: recorded noise from a wav.scp, or generated coloured noise."""

import math
from collections.abc import Sequence
from pathlib import Path

import soundfile as sf
import torch
import torchaudio.functional as AF

# Power spectral density ∝ 1 / f**exponent.
_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}


def coloured_noise(
    color: str, num_samples: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Zero-mean noise of unit power whose power spectrum falls off as ``1 / f**exponent``.

    ``color`` is ``"white"`` (exponent 0), ``"pink"`` (1) or ``"brown"`` (2).
    """
    if color not in _EXPONENTS:
        raise ValueError(f"unknown noise color {color!r}; expected one of {sorted(_EXPONENTS)}")
    noise = torch.randn(num_samples, generator=generator)
    exponent = _EXPONENTS[color]
    if exponent > 0:
        # Shape white noise in the FFT domain: amplitude ∝ f**(-exponent / 2) gives the power
        # slope. DC would be infinite, so it is dropped (which also makes the noise zero-mean).
        freqs = torch.fft.rfftfreq(num_samples)
        gain = torch.zeros_like(freqs)
        gain[1:] = freqs[1:].pow(-exponent / 2)
        noise = torch.fft.irfft(torch.fft.rfft(noise) * gain, n=num_samples)
    return noise / noise.pow(2).mean().sqrt().clamp_min(1e-12)


def _read_scp(path: str) -> list[str]:
    """Audio paths of a Kaldi-style ``wav.scp`` (``<id> <path>`` per line)."""
    paths = []
    for line_number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(maxsplit=1)
        if len(fields) != 2:
            raise ValueError(f"{path}:{line_number}: expected '<id> <path>', got {line!r}")
        paths.append(fields[1].strip())
    if not paths:
        raise ValueError(f"noise list {path} has no entries")
    return paths


class AddNoise:
    """Mix noise into the utterance at an SNR drawn uniformly from ``snr_db``.

    The SNR is the energy ratio over the whole utterance. With ``noise_scp`` the noise is a random
    recording from that list (random crop, or looped when too short); otherwise it is generated
    noise of a random color from ``colors``. Silent utterances are returned unchanged.

    Args:
        snr_db: ``(low, high)`` SNR range in dB.
        noise_scp: Kaldi-style ``wav.scp`` of noise recordings.
        colors: noise colors to pick from when no ``noise_scp`` is given.
        prob: probability of applying the augmentation at all.
        generator: private RNG for reproducible runs; ``None`` uses the global torch RNG.
    """

    def __init__(
        self,
        snr_db: Sequence[float] = (0.0, 20.0),
        noise_scp: str | None = None,
        colors: Sequence[str] = ("white", "pink", "brown"),
        prob: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        low, high = (float(v) for v in snr_db)
        if low > high:
            raise ValueError(f"snr_db must be (low, high), got {tuple(snr_db)}")
        self.snr_db = (low, high)
        self.noise_files = _read_scp(noise_scp) if noise_scp is not None else None
        self.colors = tuple(colors)
        unknown = set(self.colors) - set(_EXPONENTS)
        if not self.colors or unknown:
            raise ValueError(f"colors must be a non-empty subset of {sorted(_EXPONENTS)}")
        self.prob = prob
        self.generator = generator

    def __call__(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        if torch.rand((), generator=self.generator) >= self.prob:
            return wav
        signal_power = wav.pow(2).mean()
        # "not > 0" also catches the NaN mean of an empty utterance.
        if not signal_power > 0:
            return wav
        noise = self._draw_noise(wav.numel(), sample_rate).to(wav.dtype)
        noise_power = noise.pow(2).mean()
        if not noise_power > 0:
            return wav
        low, high = self.snr_db
        snr_db = low + (high - low) * torch.rand((), generator=self.generator)
        scale = torch.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
        return wav + scale * noise

    def _draw_noise(self, num_samples: int, sample_rate: int) -> torch.Tensor:
        if self.noise_files is None:
            index = int(torch.randint(len(self.colors), (), generator=self.generator))
            return coloured_noise(self.colors[index], num_samples, self.generator)
        index = int(torch.randint(len(self.noise_files), (), generator=self.generator))
        return self._load_noise(self.noise_files[index], num_samples, sample_rate)

    def _load_noise(self, path: str, num_samples: int, sample_rate: int) -> torch.Tensor:
        try:
            info = sf.info(path)
            # Read only a random window of the needed duration: noise recordings can be long.
            needed = math.ceil(num_samples * info.samplerate / sample_rate)
            latest_start = max(info.frames - needed, 0)
            start = int(torch.randint(latest_start + 1, (), generator=self.generator))
            data, file_rate = sf.read(
                path, start=start, frames=needed, dtype="float32", always_2d=True
            )
        except (sf.SoundFileError, OSError) as err:
            raise RuntimeError(f"cannot read noise file {path}: {err}") from err
        if data.shape[0] == 0:
            raise ValueError(f"noise file {path} is empty")
        noise = torch.from_numpy(data).mean(dim=1)  # downmix to mono
        if file_rate != sample_rate:
            common = math.gcd(file_rate, sample_rate)
            noise = AF.resample(noise, file_rate // common, sample_rate // common)
        # Loop a short recording until it covers the utterance, then cut to its length.
        repeats = math.ceil(num_samples / noise.numel())
        return noise.repeat(repeats)[:num_samples]
