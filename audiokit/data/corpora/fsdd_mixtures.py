"""Separation (2-speaker mixtures) and enhancement (noisy, reverberant) sets from FSDD.

Splits follow :mod:`audiokit.data.corpora.fsdd`: recording index 10-49 train, 5-9 valid, 0-4
test, so no recording feeds two splits. Every speaker is mixed against every other (balanced
rounds, see :func:`plan_mixtures`), second source at -5..5 dB, shorter source zero-padded
("max" mode), as in the peers' held-out mixture set. Enhancement items are each recording
with white, pink, brown or babble noise (babble from other speakers of the same split) at
0-10 dB SNR, a share of them reverberated first (SNR is then against the reverberant speech,
and the target is the direct-path signal: see :mod:`audiokit.data.simulation.reverb`).
Deterministic given the seed; each split draws from its own stream (seeded by its name).
"""

from __future__ import annotations

import json
import logging
import math
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from audiokit.data.audio import audio_duration
from audiokit.data.corpora.fsdd import Recording, load_recordings
from audiokit.data.datadir import DataDir, DataDirError
from audiokit.data.simulation.mixtures import (
    PEAK,
    AudioCache,
    plan_mixtures,
    to_pcm16,
    write_mixture_dir,
    write_pcm16,
)
from audiokit.data.simulation.noise import add_noise, make_noise
from audiokit.data.simulation.reverb import random_room, reverberate

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000
# split -> ((recording index lo, hi), number of mixtures)
DEFAULT_SEPARATION_SPLITS = {"train": ((10, 50), 2000), "valid": ((5, 10), 200),
                             "test": ((0, 5), 300)}
DEFAULT_ENHANCEMENT_SPLITS = {"train": (10, 50), "valid": (5, 10), "test": (0, 5)}
NOISE_KINDS = ("white", "pink", "brown", "babble")


def split_seed(seed: int, name: str) -> int:
    """A per-split seed: changing one split's settings leaves the others' items unchanged."""
    return int(np.random.SeedSequence([seed, zlib.crc32(name.encode())]).generate_state(1)[0])


def recordings_dir(recordings: list[Recording], path: Path) -> DataDir:
    """An in-memory (unwritten) single-recording data dir of FSDD recordings."""
    return DataDir(
        path=path,
        wav_scp={r.utt_id: str(r.path) for r in recordings},
        text={r.utt_id: r.digit for r in recordings},
        utt2spk={r.utt_id: r.speaker for r in recordings},
        utt2dur={r.utt_id: audio_duration(str(r.path), r.utt_id) for r in recordings},
    )


def _split_dirs(root: Path | None, out: Path, ranges: dict[str, tuple[int, int]],
                speakers: list[str] | None, download_dir: Path | None) -> dict[str, DataDir]:
    root, recordings = load_recordings(root, out, speakers, download_dir)
    dirs = {}
    for name, (lo, hi) in ranges.items():
        chosen = [r for r in recordings if lo <= r.index < hi]
        if not chosen:
            raise DataDirError(f"{root}: split '{name}' (index {lo}..{hi - 1}) is empty")
        dirs[name] = recordings_dir(chosen, chosen[0].path.parent)
    return dirs


def prepare_separation(root: Path | None, out: Path, seed: int = 1,
                       splits: dict[str, tuple[tuple[int, int], int]] | None = None,
                       speakers: list[str] | None = None, num_sources: int = 2,
                       level_range_db: tuple[float, float] = (-5.0, 5.0), mode: str = "max",
                       download_dir: Path | None = None) -> dict[str, DataDir]:
    """Write ``out/<split>/`` mixture data dirs: split -> ((index lo, hi), mixtures)."""
    splits = splits or DEFAULT_SEPARATION_SPLITS
    sources = _split_dirs(root, Path(out), {k: v[0] for k, v in splits.items()}, speakers,
                          download_dir)
    dirs = {}
    for name, ((lo, hi), count) in splits.items():
        src = sources[name]
        plan = plan_mixtures(src.utt2spk, src.utt2dur, count, num_sources, level_range_db,
                             split_seed(seed, name))
        info = {"corpus": "fsdd", "split": name, "index_range": [lo, hi], "seed": seed,
                "level_range_db": list(level_range_db)}
        dirs[name] = write_mixture_dir(src, plan, Path(out) / name, SAMPLE_RATE, mode, info)
        log.info("%s: %d mixtures", Path(out) / name, count)
    return dirs


def make_noisy_dir(src: DataDir, out_dir: Path, seed: int, sample_rate: int,
                   snr_range: tuple[float, float] = (0.0, 10.0),
                   noise_kinds: Sequence[str] = NOISE_KINDS, reverb_prob: float = 0.25,
                   rt60_range: tuple[float, float] = (0.2, 0.6), n_talkers: int = 3,
                   copies: int = 1, info: dict | None = None) -> DataDir:
    """Noisy (and, with probability ``reverb_prob``, reverberant) copies of every utterance of
    ``src``: ``wav.scp`` noisy, ``spk1.scp`` target, ``noise1.scp`` scaled noise, ``utt2spk``
    and ``text`` kept, ``noise_info`` (``id kind snr_db rt60|-``), ``utt2condition``
    (``id noise=kind snr=0-5dB room=dry|reverberant``, for per-condition scores) and
    ``conditions.json``.
    Item ``i`` draws from its own stream ``(seed, i)``. Noisy = speech + noise exactly (16-bit)."""
    out = Path(out_dir)
    for sub in ("noisy", "clean", "noise"):
        (out / "wav" / sub).mkdir(parents=True, exist_ok=True)
    if "babble" in noise_kinds and src.utt2spk is None:
        raise DataDirError(f"{src.path}: babble noise needs utt2spk (talkers other than the "
                           "speaker)")
    audio = AudioCache(src, sample_rate)
    utts = sorted(src.utt_ids)
    d = DataDir(path=out, wav_scp={}, utt2spk={} if src.utt2spk else None, utt2dur={},
                text={} if src.text else None)
    spk1, noise1, noise_info, utt2condition, conditions = {}, {}, {}, {}, {}
    pools: dict[str, list[np.ndarray]] = {}  # speaker -> babble talkers (everyone else)
    for i, (utt, copy) in enumerate((u, c) for u in utts for c in range(copies)):
        rng = np.random.default_rng([seed, i])
        item = f"{utt}-n{copy}"
        clean = audio(utt)
        kind = str(noise_kinds[rng.integers(len(noise_kinds))])
        snr = float(rng.uniform(*snr_range))
        cond: dict = {"source": utt, "noise": kind, "snr_db": round(snr, 4)}
        speech = target = clean
        if rng.random() < reverb_prob:
            room = random_room(rng, sample_rate, rt60_range)
            speech, target = reverberate(clean, room)
            cond.update(rt60=round(room.rt60, 4), room_dim=[round(v, 3) for v in room.room_dim],
                        source_pos=[round(v, 3) for v in room.source],
                        mic_pos=[round(v, 3) for v in room.mic])
        pool = []
        if kind == "babble":
            speaker = src.utt2spk[utt]
            if speaker not in pools:
                pools[speaker] = [audio(u) for u in utts if src.utt2spk[u] != speaker]
            pool = pools[speaker]
        try:
            noise = make_noise(kind, len(clean), rng, pool, n_talkers)
            noisy, scaled = add_noise(speech, noise, snr)
        except ValueError as e:
            raise DataDirError(f"{src.path}: utterance '{utt}': {e}") from None
        gain = min(1.0, PEAK / max(float(np.abs(noisy).max()), 1e-12))
        q_speech, q_noise = to_pcm16(speech * gain), to_pcm16(scaled * gain)
        q_target = q_speech if target is clean else to_pcm16(target * gain)
        d.wav_scp[item] = write_pcm16(out / "wav" / "noisy" / f"{item}.wav", q_speech + q_noise,
                                      sample_rate)
        spk1[item] = write_pcm16(out / "wav" / "clean" / f"{item}.wav", q_target, sample_rate)
        noise1[item] = write_pcm16(out / "wav" / "noise" / f"{item}.wav", q_noise, sample_rate)
        d.utt2dur[item] = round(len(clean) / sample_rate, 4)
        if d.utt2spk is not None:
            d.utt2spk[item] = src.utt2spk[utt]
        if d.text is not None:
            d.text[item] = src.text[utt]
        noise_info[item] = f"{kind} {snr:.4f} {cond.get('rt60', '-')}"
        band = 5 * math.floor(snr / 5)  # audiokit-score reports means per condition
        utt2condition[item] = (f"noise={kind} snr={band}-{band + 5}dB "
                               f"room={'reverberant' if 'rt60' in cond else 'dry'}")
        conditions[item] = cond
    d.extra = {"spk1.scp": spk1, "noise1.scp": noise1, "noise_info": noise_info,
               "utt2condition": utt2condition}
    d.write()
    meta = {"sample_rate": sample_rate, "source_dir": str(Path(src.path).resolve()),
            "snr_range_db": list(snr_range), "noise_kinds": list(noise_kinds),
            "reverb_prob": reverb_prob, "rt60_range": list(rt60_range), "n_talkers": n_talkers,
            **(info or {}), "items": conditions}
    (out / "conditions.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n",
                                         encoding="utf-8")
    for sub in ("noisy", "clean", "noise"):  # idempotent: drop wavs of an earlier, larger run
        for wav in (out / "wav" / sub).glob("*.wav"):
            if wav.stem not in d.wav_scp:
                wav.unlink()
    return d


def prepare_enhancement(root: Path | None, out: Path, seed: int = 1,
                        splits: dict[str, tuple[int, int]] | None = None,
                        speakers: list[str] | None = None,
                        snr_range: tuple[float, float] = (0.0, 10.0),
                        noise_kinds: Sequence[str] = NOISE_KINDS, reverb_prob: float = 0.25,
                        rt60_range: tuple[float, float] = (0.2, 0.6), n_talkers: int = 3,
                        copies: int = 1, download_dir: Path | None = None) -> dict[str, DataDir]:
    """Write ``out/<split>/`` enhancement data dirs: split -> (index lo, hi); ``copies`` noisy
    versions of each training recording (other noise, SNR and room each: with one, a model
    learns the training noise itself), one of each valid and test recording."""
    unknown = sorted(set(noise_kinds) - set(NOISE_KINDS))
    if unknown or not noise_kinds:
        raise ValueError(f"unknown noise kind(s) {unknown}; choose from {list(NOISE_KINDS)}")
    if copies < 1:
        raise ValueError(f"copies must be at least 1, got {copies}")
    splits = splits or DEFAULT_ENHANCEMENT_SPLITS
    sources = _split_dirs(root, Path(out), splits, speakers, download_dir)
    dirs = {}
    for name, (lo, hi) in splits.items():
        info = {"corpus": "fsdd", "split": name, "index_range": [lo, hi], "seed": seed}
        dirs[name] = make_noisy_dir(sources[name], Path(out) / name, split_seed(seed, name),
                                    SAMPLE_RATE, snr_range, noise_kinds, reverb_prob, rt60_range,
                                    n_talkers, copies if name == "train" else 1, info)
        log.info("%s: %d noisy utterances", Path(out) / name, len(dirs[name]))
    return dirs
