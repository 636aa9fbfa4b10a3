"""Reverberation with simulated shoebox-room impulse responses (pyroomacoustics image method)."""

from collections.abc import Sequence

import numpy as np
import pyroomacoustics as pra
import torch
import torchaudio.functional as AF

# Sources and microphones keep this distance (m) from every wall.
_WALL_MARGIN = 0.5


class Reverberate:
    """Convolve the utterance with a random room impulse response (RIR) from a simulated bank.

    At first use for a sample rate, ``num_rirs`` rooms are simulated with RT60 and dimensions drawn
    uniformly from ``rt60`` and ``room_size`` (seeded by ``seed``, so every DataLoader worker
    builds the same bank). The output keeps the input's length and RMS level, and the direct path
    stays at its original time.

    The image-source order is capped at ``max_order`` to keep simulation fast. The cap
    truncates the late tail of small rooms with long RT60s, and the image method decays slower
    than Sabine's formula in flat rooms, so the RT60s of the simulated responses are only near
    the requested ones (figures: recipes/fsdd/enh/RESULTS.md).

    Args:
        rt60: ``(low, high)`` reverberation time range in seconds.
        room_size: ``((x, y, z) low, (x, y, z) high)`` room dimension range in metres.
        num_rirs: number of simulated RIRs per sample rate.
        seed: seed of the room simulation.
        max_order: upper bound on the image-source reflection order.
        prob: probability of applying the augmentation at all.
        generator: private RNG for reproducible runs; ``None`` uses the global torch RNG.
    """

    def __init__(
        self,
        rt60: Sequence[float] = (0.2, 0.8),
        room_size: Sequence[Sequence[float]] = ((3.0, 3.0, 2.5), (10.0, 8.0, 4.0)),
        num_rirs: int = 32,
        seed: int = 0,
        max_order: int = 30,
        prob: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        self.rt60 = tuple(float(v) for v in rt60)
        self.room_low, self.room_high = (np.array([float(v) for v in dims]) for dims in room_size)
        if len(self.rt60) != 2 or not 0 < self.rt60[0] <= self.rt60[1]:
            raise ValueError(f"rt60 must be (low, high) seconds, got {self.rt60}")
        if self.room_low.min() <= 2 * _WALL_MARGIN or (self.room_low > self.room_high).any():
            raise ValueError(
                f"room_size must be (low, high) dims above {2 * _WALL_MARGIN} m, got {room_size}"
            )
        self.num_rirs = num_rirs
        self.seed = seed
        self.max_order = max_order
        self.prob = prob
        self.generator = generator
        self._banks: dict[int, list[tuple[torch.Tensor, int]]] = {}

    def rir_bank(self, sample_rate: int) -> list[tuple[torch.Tensor, int]]:
        """The ``(rir, direct_path_index)`` pairs for ``sample_rate``, simulated on first use."""
        if sample_rate not in self._banks:
            self._banks[sample_rate] = self._simulate_bank(sample_rate)
        return self._banks[sample_rate]

    def __call__(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        if torch.rand((), generator=self.generator) >= self.prob:
            return wav
        bank = self.rir_bank(sample_rate)
        rir, direct = bank[int(torch.randint(len(bank), (), generator=self.generator))]
        # Start the output at the direct path so reverberation adds no delay.
        wet = AF.fftconvolve(wav, rir.to(wav.dtype))[direct : direct + wav.numel()]
        wet_rms = wet.pow(2).mean().sqrt()
        if not wet_rms > 0:  # silent (or empty) input
            return wav
        return wet * (wav.pow(2).mean().sqrt() / wet_rms)

    def _simulate_bank(self, sample_rate: int) -> list[tuple[torch.Tensor, int]]:
        rng = np.random.default_rng(self.seed)
        # Each arrival is a fractional-delay filter centred this many samples after its time.
        filter_offset = pra.constants.get("frac_delay_length") // 2
        bank = []
        for _ in range(self.num_rirs):
            room_dim = rng.uniform(self.room_low, self.room_high)
            rt60 = rng.uniform(*self.rt60)
            try:
                absorption, order = pra.inverse_sabine(rt60, room_dim)
            except ValueError as err:
                raise ValueError(
                    f"RT60 {rt60:.2f} s is too short for a {np.round(room_dim, 2)} m room: {err}"
                ) from err
            room = pra.ShoeBox(
                room_dim,
                fs=sample_rate,
                materials=pra.Material(absorption),
                max_order=min(order, self.max_order),
            )
            source = rng.uniform(_WALL_MARGIN, room_dim - _WALL_MARGIN)
            mic = rng.uniform(_WALL_MARGIN, room_dim - _WALL_MARGIN)
            room.add_source(source)
            room.add_microphone(mic)
            room.compute_rir()
            # Locate the direct path from geometry: the largest RIR sample is often a sum of
            # coinciding reflections rather than the direct sound.
            delay = np.linalg.norm(source - mic) / room.c * sample_rate
            direct = int(round(delay)) + filter_offset
            bank.append((torch.from_numpy(room.rir[0][0]).float(), direct))
        return bank
