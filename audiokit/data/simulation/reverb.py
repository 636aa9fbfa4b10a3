"""Room reverberation: seeded random shoebox rooms (pyroomacoustics image method) and RIR use.

Target convention: :func:`reverberate` returns the dry source convolved with the direct path
only (the image-method RIR of order 0 in the same room), cropped at the direct-path delay, as
the target; the reverberant signal is cropped the same way. So the target is time-aligned with
the reverberant input and ``reverberant - target`` is exactly the reflections: what an
enhancement model should remove (the WHAMR! "anechoic" convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyroomacoustics as pra
from scipy.signal import fftconvolve

from audiokit.data.simulation.noise import as_rng, rms

# Sources and microphones keep this distance (m) from every wall.
WALL_MARGIN = 0.5


@dataclass(frozen=True)
class RoomImpulse:
    """A simulated RIR, its direct-path-only part (same length, same time origin), and the room."""

    rir: np.ndarray
    direct: np.ndarray
    sample_rate: int
    rt60: float
    room_dim: tuple[float, float, float]
    source: tuple[float, float, float]
    mic: tuple[float, float, float]

    @property
    def delay(self) -> int:
        """Sample index of the direct-path peak (propagation delay + the filter's half length)."""
        return int(np.argmax(np.abs(self.direct)))


def random_room(seed: int | np.random.Generator | None, sample_rate: int,
                rt60_range: tuple[float, float] = (0.2, 0.6),
                room_dim_range: tuple[tuple[float, ...], tuple[float, ...]] = (
                    (3.0, 3.0, 2.5), (8.0, 6.0, 3.5)),
                max_order: int | None = None) -> RoomImpulse:
    """Simulate one RIR: room dimensions and RT60 uniform in their ranges, wall absorption from
    Sabine's formula (``pra.inverse_sabine``), source and mic uniform inside the room (kept
    :data:`WALL_MARGIN` from the walls). ``max_order`` caps the image order (faster, shorter
    tail). Measured RT60s come out near, not at, the request (image method vs Sabine)."""
    rng = as_rng(seed)
    low, high = (np.asarray(v, dtype=float) for v in room_dim_range)
    if (low.shape != (3,) or high.shape != (3,) or (low > high).any()
            or low.min() <= 2 * WALL_MARGIN):
        raise ValueError(f"room_dim_range must be ((x, y, z) low, (x, y, z) high) above "
                         f"{2 * WALL_MARGIN} m, got {room_dim_range}")
    if not 0 < rt60_range[0] <= rt60_range[1]:
        raise ValueError(f"rt60_range must be (low, high) seconds, got {rt60_range}")
    room_dim = rng.uniform(low, high)
    rt60 = float(rng.uniform(*rt60_range))
    source = rng.uniform(WALL_MARGIN, room_dim - WALL_MARGIN)
    mic = rng.uniform(WALL_MARGIN, room_dim - WALL_MARGIN)
    try:
        absorption, order = pra.inverse_sabine(rt60, room_dim)
    except ValueError as e:
        raise ValueError(f"RT60 {rt60:.2f} s is impossible in a {np.round(room_dim, 2)} m room: "
                         f"{e}") from None
    order = order if max_order is None else min(order, max_order)
    rir = _simulate(room_dim, absorption, order, source, mic, sample_rate)
    direct = _simulate(room_dim, absorption, 0, source, mic, sample_rate)
    n = max(len(rir), len(direct))
    rir, direct = np.pad(rir, (0, n - len(rir))), np.pad(direct, (0, n - len(direct)))
    return RoomImpulse(rir.astype(np.float32), direct.astype(np.float32), sample_rate, rt60,
                       tuple(room_dim.tolist()), tuple(source.tolist()), tuple(mic.tolist()))


def _simulate(room_dim: np.ndarray, absorption: float, order: int, source: np.ndarray,
              mic: np.ndarray, sample_rate: int) -> np.ndarray:
    room = pra.ShoeBox(room_dim, fs=sample_rate, materials=pra.Material(absorption),
                       max_order=order)
    room.add_source(source)
    room.add_microphone(mic)
    room.compute_rir()
    return np.asarray(room.rir[0][0], dtype=np.float64)


def reverberate(clean: np.ndarray, rir: RoomImpulse | np.ndarray,
                ) -> tuple[np.ndarray, np.ndarray]:
    """``(reverberant, target)``, both as long as ``clean`` and aligned to the direct path.

    With a :class:`RoomImpulse` the target is the direct-path convolution (see the module
    note); with a bare RIR array the direct path is taken to be its largest sample, and the
    target is ``clean`` scaled by it. Both outputs share one gain that gives the target the
    RMS of ``clean``, so the level is kept and the propagation loss undone.
    """
    clean = np.asarray(clean, dtype=np.float64)
    if isinstance(rir, RoomImpulse):
        h, direct, delay = rir.rir.astype(np.float64), rir.direct.astype(np.float64), rir.delay
    else:
        h = np.asarray(rir, dtype=np.float64)
        delay = int(np.argmax(np.abs(h)))
        direct = np.zeros_like(h)
        direct[delay] = h[delay]
    n = len(clean)
    wet = fftconvolve(clean, h)[delay : delay + n]
    target = fftconvolve(clean, direct)[delay : delay + n]
    level = rms(target)
    gain = rms(clean) / level if level > 0 else 1.0
    return (wet * gain).astype(np.float32), (target * gain).astype(np.float32)


def measure_rt60(rir: RoomImpulse | np.ndarray, sample_rate: int | None = None,
                 decay_db: float = 30) -> float:
    """RT60 from the Schroeder decay (pyroomacoustics), extrapolated from a ``decay_db`` drop."""
    if isinstance(rir, RoomImpulse):
        rir, sample_rate = rir.rir, rir.sample_rate
    if sample_rate is None:
        raise ValueError("measure_rt60 needs the sample rate of a bare RIR array")
    return float(pra.experimental.measure_rt60(np.asarray(rir, dtype=np.float64), fs=sample_rate,
                                               decay_db=decay_db))
