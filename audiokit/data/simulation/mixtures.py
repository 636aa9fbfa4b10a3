"""Speech mixtures (wsj0-2mix style): plans, mixing, mixture data dirs and dynamic mixing.

Written mixture dirs: ``wav.scp`` is the mixture, ``spk1.scp`` .. ``spkN.scp`` the scaled
references, ``utt2spk`` maps each mixture id to itself (a mixture has no single speaker, and
grouping mixtures by a made-up speaker would mislead per-speaker tools; the speakers are in
``mix_info`` and ``mixture.json``), ``utt2dur``, ``mix_info`` (``mix_id utt1 level1_db utt2
level2_db ...``) and ``mixture.json`` (everything about each mixture). Audio is 16-bit PCM,
quantised so that the mixture file is exactly the sum of the reference files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

from audiokit.data.audio import load_audio
from audiokit.data.augment.speed import change_speed
from audiokit.data.datadir import DataDir, DataDirError
from audiokit.data.simulation.noise import rms

# Mixtures are scaled down (never up) so their peak stays below this: no clipping at 16 bits.
PEAK = 0.9
# Balanced speaker combinations are enumerated up to this many; beyond, speakers are drawn.
_MAX_COMBOS = 10_000


@dataclass(frozen=True)
class MixturePlan:
    """One mixture to make: its id, source utterances (s1 first), their speakers and levels."""

    mix_id: str
    utts: tuple[str, ...]
    speakers: tuple[str, ...]
    levels_db: tuple[float, ...]


def plan_mixtures(utt2spk: dict[str, str], utt2dur: dict[str, float] | None, n: int,
                  num_sources: int = 2, level_range_db: tuple[float, float] = (-5.0, 5.0),
                  seed: int = 0, min_duration: float = 0.0) -> list[MixturePlan]:
    """``n`` mixtures of ``num_sources`` utterances from distinct speakers, deterministic in
    ``seed``. Speaker combinations are visited in balanced rounds (each round a shuffled pass
    over all combinations, order within a mixture random), so every speaker meets every other
    equally often; with too many combinations they are drawn at random instead. Source 1 is the
    0 dB reference, the others are uniform in ``level_range_db``. Utterances shorter than
    ``min_duration`` (by ``utt2dur``) are not used; a repeated utterance set is redrawn."""
    rng = np.random.default_rng(seed)
    by_spk: dict[str, list[str]] = {}
    for utt in sorted(utt2spk):
        if utt2dur is None or utt2dur[utt] >= min_duration:
            by_spk.setdefault(utt2spk[utt], []).append(utt)
    speakers = sorted(by_spk)
    if len(speakers) < num_sources:
        raise ValueError(f"{num_sources}-source mixtures need {num_sources} speakers with "
                         f"usable utterances; found {len(speakers)}: {speakers}")
    lo, hi = level_range_db
    use_combos = math.comb(len(speakers), num_sources) <= _MAX_COMBOS
    combos = list(combinations(speakers, num_sources)) if use_combos else []
    queue: list[tuple[str, ...]] = []
    seen: set[tuple[str, ...]] = set()
    plans = []
    for m in range(n):
        if use_combos:
            if not queue:
                queue = [combos[i] for i in rng.permutation(len(combos))]
            combo = queue.pop()
            spks = tuple(combo[i] for i in rng.permutation(num_sources))
        else:
            spks = tuple(speakers[i] for i in rng.choice(len(speakers), num_sources, replace=False))
        for _ in range(100):  # redraw a repeated set; give up (allow it) if the pool is tiny
            utts = tuple(by_spk[s][rng.integers(len(by_spk[s]))] for s in spks)
            if utts not in seen:
                break
        seen.add(utts)
        levels = (0.0, *(round(float(rng.uniform(lo, hi)), 4) for _ in spks[1:]))
        plans.append(MixturePlan(f"m{m:05d}-" + "-".join(utts), utts, spks, levels))
    return plans


def mix_sources(sources: Sequence[np.ndarray], levels_db: Sequence[float], mode: str = "min",
                peak: float | None = PEAK) -> tuple[np.ndarray, np.ndarray]:
    """``(mixture [T], references [S, T])``, float32, with ``mixture == references.sum(0)``.

    Source ``k`` is scaled to the RMS of source 1 times ``10**((level_k - level_1) / 20)``,
    RMS taken over its valid samples (those in the mixture, before any padding). ``mode="min"``
    cuts every source to the shortest, ``"max"`` zero-pads them to the longest. Then one common
    gain brings the mixture peak down to ``peak`` if it is above (``None``: no gain).
    """
    if len(sources) != len(levels_db) or not sources:
        raise ValueError(f"{len(sources)} sources but {len(levels_db)} levels")
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    arrays = [np.asarray(s, dtype=np.float64) for s in sources]
    length = (min if mode == "min" else max)(len(a) for a in arrays)
    if mode == "min":
        arrays = [a[:length] for a in arrays]
    levels = [rms(a) for a in arrays]
    silent = [k + 1 for k, v in enumerate(levels) if v == 0]
    if silent:
        raise ValueError(f"source(s) {silent} silent (or empty) in the mixed region")
    refs = np.zeros((len(arrays), length))
    for k, a in enumerate(arrays):
        refs[k, : len(a)] = a * (levels[0] / levels[k] * 10 ** ((levels_db[k] - levels_db[0]) / 20))
    refs = limit_peak(refs, peak).astype(np.float32)
    return refs.sum(axis=0), refs


def limit_peak(refs: np.ndarray, peak: float | None) -> np.ndarray:
    """Scale all references by one gain so their sum peaks at most at ``peak``."""
    top = float(np.abs(refs.sum(axis=0)).max()) if refs.size else 0.0
    return refs * (peak / top) if peak is not None and top > peak else refs


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Round to the 16-bit grid (as int32, so sums of several do not overflow)."""
    scaled = np.round(np.asarray(x, dtype=np.float64) * 32768)
    return np.clip(scaled, -32768, 32767).astype(np.int32)


def write_pcm16(path: Path, samples: np.ndarray, sample_rate: int) -> str:
    """Write int samples as 16-bit PCM (read back as ``samples / 32768`` exactly)."""
    if samples.min(initial=0) < -32768 or samples.max(initial=0) > 32767:
        raise ValueError(f"{path}: samples outside the 16-bit range")
    sf.write(path, samples.astype(np.int16), sample_rate, subtype="PCM_16")
    return str(path.resolve())


class AudioCache:
    """Utterance audio of a data dir as float32 numpy, read once (or every time if ``lazy``)."""

    def __init__(self, src: DataDir, sample_rate: int, lazy: bool = False) -> None:
        self.src, self.sample_rate, self.lazy = src, sample_rate, lazy
        self._audio: dict[str, np.ndarray] = {}

    def __call__(self, utt: str) -> np.ndarray:
        if utt in self._audio:
            return self._audio[utt]
        source, start, end = self.src.audio_source(utt)
        audio = load_audio(source, self.sample_rate, utt=utt, start=start, end=end).numpy()
        if not self.lazy:
            self._audio[utt] = audio
        return audio


def write_mixture_dir(src: DataDir, plan: Sequence[MixturePlan], out_dir: str | Path,
                      sample_rate: int, mode: str = "max", info: dict | None = None,
                      lazy: bool = False) -> DataDir:
    """Mix every planned mixture from ``src``; write ``out_dir/wav/{mix,s1,..}/<id>.wav`` and the
    data dir (see the module docstring). ``info`` is stored in ``mixture.json``. Idempotent:
    wavs of an earlier run that are not in ``plan`` are removed."""
    out = Path(out_dir)
    num_sources = len(plan[0].utts) if plan else 0
    subdirs = ["mix"] + [f"s{k + 1}" for k in range(num_sources)]
    for sub in subdirs:
        (out / "wav" / sub).mkdir(parents=True, exist_ok=True)
    audio = AudioCache(src, sample_rate, lazy)
    d = DataDir(path=out, wav_scp={}, utt2spk={}, utt2dur={})
    scps: dict[str, dict[str, str]] = {f"spk{k + 1}.scp": {} for k in range(num_sources)}
    mix_info: dict[str, str] = {}
    records = {}
    for p in plan:
        if len(p.utts) != num_sources:
            raise ValueError(f"mixture {p.mix_id}: {len(p.utts)} sources, expected {num_sources}")
        try:
            mixture, refs = mix_sources([audio(u) for u in p.utts], p.levels_db, mode)
        except ValueError as e:
            raise DataDirError(f"{src.path}: mixture {p.mix_id} of {list(p.utts)}: {e}") from None
        quantised = [to_pcm16(r) for r in refs]  # the mixture file is their exact sum
        d.wav_scp[p.mix_id] = write_pcm16(out / "wav" / "mix" / f"{p.mix_id}.wav",
                                          np.sum(quantised, axis=0), sample_rate)
        for k, q in enumerate(quantised):
            scps[f"spk{k + 1}.scp"][p.mix_id] = write_pcm16(
                out / "wav" / f"s{k + 1}" / f"{p.mix_id}.wav", q, sample_rate)
        d.utt2spk[p.mix_id] = p.mix_id
        d.utt2dur[p.mix_id] = round(len(mixture) / sample_rate, 4)
        mix_info[p.mix_id] = " ".join(f"{u} {lv:.4f}" for u, lv in zip(p.utts, p.levels_db,
                                                                      strict=True))
        records[p.mix_id] = {"sources": list(p.utts), "speakers": list(p.speakers),
                             "levels_db": list(p.levels_db), "num_samples": len(mixture)}
    d.extra = {**scps, "mix_info": mix_info}
    d.write()
    meta = {"sample_rate": sample_rate, "mode": mode, "num_sources": num_sources,
            "source_dir": str(Path(src.path).resolve()), **(info or {}), "mixtures": records}
    (out / "mixture.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n",
                                      encoding="utf-8")
    _remove_stale(out, subdirs, set(d.wav_scp), num_sources)
    return d


def _remove_stale(out: Path, subdirs: list[str], keep: set[str], num_sources: int) -> None:
    for sub in subdirs:
        for wav in (out / "wav" / sub).glob("*.wav"):
            if wav.stem not in keep:
                wav.unlink()
    for scp in out.glob("spk*.scp"):
        if scp.stem[3:].isdigit() and int(scp.stem[3:]) > num_sources:
            scp.unlink()


def make_mixture_dir(src: DataDir | str | Path, out_dir: str | Path, n: int, num_sources: int = 2,
                     level_range_db: tuple[float, float] = (-5.0, 5.0), mode: str = "max",
                     seed: int = 0, sample_rate: int | None = None) -> DataDir:
    """Plan and write ``n`` mixtures from a single-speaker data dir with ``utt2spk``."""
    src = src if isinstance(src, DataDir) else DataDir.load(src)
    if src.utt2spk is None:
        raise DataDirError(f"{src.path}: no utt2spk file; mixtures need the speaker of each "
                           "utterance")
    if sample_rate is None:  # the rate of the corpus itself
        sample_rate = sf.info(src.audio_source(src.utt_ids[0])[0]).samplerate
    plan = plan_mixtures(src.utt2spk, src.utt2dur, n, num_sources, level_range_db, seed)
    info = {"seed": seed, "level_range_db": list(level_range_db)}
    return write_mixture_dir(src, plan, out_dir, sample_rate, mode, info)


class DynamicMixingDataset(Dataset):
    """Fresh random mixtures every epoch: ``{"id", "mixture": [T], "sources": [S, T]}``.

    Item ``i`` of epoch ``e`` depends only on ``(seed, e, i)``, so DDP ranks and DataLoader
    workers agree without sharing state (call :meth:`set_epoch` each epoch). Speakers are
    distinct and drawn uniformly, then one utterance each, levels as in :func:`plan_mixtures`.
    ``segment_seconds=None`` mixes whole utterances (``mode``, "min" by default); otherwise
    each source is randomly cropped to the segment, or placed at a random offset in it when
    shorter, and every item is exactly one segment long. ``speed_factors`` resamples each
    source by a factor drawn from the list (tempo and pitch together, as Kaldi's speed
    perturbation), so the sources themselves vary between epochs, not only their pairings.
    Audio is read once into memory unless ``lazy``.
    """

    def __init__(self, src: DataDir | str | Path, num_sources: int = 2, epoch_size: int = 10_000,
                 level_range_db: tuple[float, float] = (-5.0, 5.0),
                 segment_seconds: float | None = None, sample_rate: int = 8000, seed: int = 0,
                 lazy: bool = False, mode: str = "min",
                 speed_factors: Sequence[float] = (1.0,)) -> None:
        self.src = src if isinstance(src, DataDir) else DataDir.load(src)
        if self.src.utt2spk is None:
            raise DataDirError(f"{self.src.path}: no utt2spk file; dynamic mixing needs speakers")
        groups = self.src.spk2utt()
        self.speakers = sorted(groups)
        self.by_spk = [sorted(groups[s]) for s in self.speakers]
        if len(self.speakers) < num_sources:
            raise DataDirError(f"{self.src.path}: {len(self.speakers)} speaker(s), fewer than "
                               f"the {num_sources} sources of a mixture")
        self.num_sources, self.epoch_size = num_sources, epoch_size
        self.level_range_db, self.mode = level_range_db, mode
        self.speed_factors = tuple(float(f) for f in speed_factors)
        if not self.speed_factors or min(self.speed_factors) <= 0:
            raise ValueError(f"speed factors must be positive, got {self.speed_factors}")
        self.segment = None if segment_seconds is None else round(segment_seconds * sample_rate)
        self.sample_rate, self.seed, self.epoch = sample_rate, seed, 0
        self.audio = AudioCache(self.src, sample_rate, lazy)
        if not lazy:
            for utt in self.src.utt_ids:
                self.audio(utt)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.epoch_size

    def _draw(self, epoch: int, index: int
              ) -> tuple[np.random.Generator, list[str], list[float], list[float]]:
        """The item's utterances, levels and speeds, and the generator to go on drawing from."""
        rng = np.random.default_rng([self.seed, epoch, index])
        spk_idx = rng.choice(len(self.speakers), self.num_sources, replace=False)
        utts = [self.by_spk[s][rng.integers(len(self.by_spk[s]))] for s in spk_idx]
        levels = [0.0] + [float(rng.uniform(*self.level_range_db)) for _ in utts[1:]]
        speeds = [1.0] * len(utts)
        if self.speed_factors != (1.0,):  # no draw otherwise: the same mixtures as without
            speeds = [self.speed_factors[i] for i in
                      rng.integers(len(self.speed_factors), size=len(utts))]
        return rng, utts, levels, speeds

    def _source(self, utt: str, speed: float) -> np.ndarray:
        audio = self.audio(utt)
        if speed == 1.0:
            return audio
        return change_speed(torch.from_numpy(audio), self.sample_rate, speed).numpy()

    def durations(self, epoch: int) -> list[float]:
        """Seconds of every item of an epoch, without reading audio (for duration batching)."""
        if self.segment is not None:
            return [self.segment / self.sample_rate] * self.epoch_size
        pick = max if self.mode == "max" else min
        utt2dur = self.src.utt2dur
        seconds = (utt2dur.__getitem__ if utt2dur else
                   lambda u: len(self.audio(u)) / self.sample_rate)
        items = (self._draw(epoch, i) for i in range(self.epoch_size))
        return [pick(seconds(u) / f for u, f in zip(utts, speeds, strict=True))
                for _, utts, _, speeds in items]

    def __getitem__(self, index: int | tuple[int, int]) -> dict:
        # An (epoch, index) key carries the epoch into DataLoader workers, whose copies of
        # this dataset never see set_epoch.
        epoch, index = index if isinstance(index, tuple) else (self.epoch, index)
        rng, utts, levels, speeds = self._draw(epoch, index)
        sources = [self._source(u, f) for u, f in zip(utts, speeds, strict=True)]
        if self.segment is None:
            mixture, refs = mix_sources(sources, levels, self.mode)
        else:
            crops, offsets = [], []
            for s in sources:
                start = int(rng.integers(len(s) - self.segment + 1)) if len(s) > self.segment else 0
                crops.append(s[start : start + self.segment])
                offsets.append(int(rng.integers(self.segment - len(crops[-1]) + 1)))
            _, scaled = mix_sources(crops, levels, "max", peak=None)  # levels over valid samples
            placed = np.zeros((len(crops), self.segment))
            for k, (c, off) in enumerate(zip(crops, offsets, strict=True)):
                placed[k, off : off + len(c)] = scaled[k, : len(c)]
            refs = limit_peak(placed, PEAK).astype(np.float32)
            mixture = refs.sum(axis=0)
        return {"id": f"dm{epoch}-{index}-" + "-".join(utts),
                "mixture": torch.from_numpy(mixture), "sources": torch.from_numpy(refs)}
