"""Simulated conversations (diarization training data) from single-speaker utterances.

Two ways to place utterances in time, both deterministic given the seed:

- ``mode="eend"`` follows the simulation of EEND (Fujita et al., Interspeech 2019, Alg. 1):
  each of the conversation's speakers gets a track of their own utterances, each preceded by a
  pause drawn from Exponential(mean ``beta`` s); the tracks are summed, so speakers overlap
  wherever their tracks happen to. Overlap comes out of ``beta`` (smaller: more overlap).
- ``mode="turns"`` is closer to real conversations: one sequence of turns, the next speaker
  always differs from the current one, each turn follows the previous one after an
  Exponential(``beta``) pause, or, with probability ``overlap_prob``, starts before it ends:
  the overlap is a fraction (uniform in ``overlap_fraction``) of the shorter of the new turn
  and the previous turn's last utterance (an interruption overlaps the last words, not a
  whole long turn).
  (A 1-speaker "conversation" is that speaker's turns with pauses: EEND-EDA must learn to
  count one too.) At most two turns overlap at once: a turn never starts before the one before the previous
  has ended (the overlap is cut short if needed). This lets a recipe aim at an overlap ratio.

Utterances are placed without their silent edges (see :func:`speech_bounds`), so every placed
sample belongs to its speaker's turn and the reference RTTM labels speech, not silence.
Optional noise (white, pink or brown) is added at an SNR drawn per conversation, measured
against the speech samples only (silence between turns must not lower it). Babble is not
offered: it is speech the reference would not label.

A written conversation dir holds ``wav.scp``, ``utt2spk`` (each recording maps to itself: a
conversation has several speakers, and Kaldi tools that group utterances by speaker, e.g.
per-speaker CMVN, must not mix different conversations), ``spk2utt``, ``utt2dur``, ``rttm``
(the reference), ``reco2num_spk`` (``reco N``) and ``conversations.json`` (the plan, settings
and statistics). Audio is 16-bit PCM, scaled down (never up) when its peak would clip.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf

from audiokit.data.datadir import DataDir, DataDirError
from audiokit.data.rttm import Turn, write_rttm
from audiokit.data.simulation.mixtures import PEAK, AudioCache, to_pcm16, write_pcm16
from audiokit.data.simulation.noise import NOISE_ALPHAS, make_noise, rms

MODES = ("eend", "turns")
# Speech edges: 10 ms frames within TRIM_DB of the loudest frame are speech, and the speech
# of an utterance runs from the first to the last run of at least MIN_RUN_S of such frames
# (a shorter run at an edge is a click or a breath, not the start of a word).
FRAME_S = 0.01
TRIM_DB = -30.0
MIN_RUN_S = 0.03
# Starts are planned on RTTM's 1 ms grid (so at 8 or 16 kHz turn starts are exact samples).
# Same-speaker turns closer than this are one turn in the reference.
MERGE_GAP_S = 0.001
# In turns mode a speaker's next turn starts at least this long after their previous one ended
# (an overlap is cut short to keep it), so their turns stay apart in the reference.
MIN_SELF_GAP_S = 0.01


class Placement(NamedTuple):
    """One utterance of a conversation: which, whose, and where it starts (seconds)."""

    utt: str
    speaker: str
    start: float
    turn: int = -1  # turns mode: utterances of one turn (brief pauses between) share its index


@dataclass(frozen=True)
class ConversationPlan:
    """A conversation to write: its id, its utterances in time, and its noise (if any)."""

    conv_id: str
    placements: tuple[Placement, ...]
    snr_db: float | None = None
    noise_kind: str = "white"
    noise_seed: int = 0

    @property
    def speakers(self) -> list[str]:
        """Speakers in order of first appearance."""
        return list(dict.fromkeys(p.speaker for p in sorted(self.placements, key=_by_start)))

    def turns(self, utt2dur: dict[str, float]) -> list[Turn]:
        """The turns this plan makes with utterances of these durations (seconds)."""
        return placed_turns([(p, p.start, p.start + utt2dur[p.utt]) for p in self.placements])


def placed_turns(placed: list[tuple[Placement, float, float]]) -> list[Turn]:
    """Reference turns of ``(placement, start, end)``: one per utterance, except that the
    utterances of one planned turn are one turn (a speaker pausing briefly mid-turn still
    holds the floor, as annotators label it)."""
    spans: dict[object, Turn] = {}
    for i, (p, start, end) in enumerate(placed):
        key = p.turn if p.turn >= 0 else ("utt", i)
        old = spans.get(key)
        spans[key] = Turn(start, end, p.speaker) if old is None else \
            Turn(min(old.start, start), max(old.end, end), p.speaker)
    return sorted(spans.values())


def _by_start(p: Placement) -> float:
    return p.start


def _int_range(value: int | tuple[int, int], what: str) -> tuple[int, int]:
    lo, hi = (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))
    if not 1 <= lo <= hi:
        raise ValueError(f"{what} must be a positive int or a range lo <= hi, got {value}")
    return lo, hi


def plan_conversations(utt2spk: dict[str, str], utt2dur: dict[str, float], n: int,
                       num_speakers: int | tuple[int, int] = 2,
                       utts_per_speaker: int | tuple[int, int] = (5, 10), beta: float = 2.0,
                       mode: str = "eend", overlap_prob: float = 0.3,
                       overlap_fraction: tuple[float, float] = (0.1, 0.6),
                       utts_per_turn: int | tuple[int, int] = 1, turn_pause: float = 0.1,
                       snr_range: tuple[float, float] | None = None,
                       noise_kinds: Sequence[str] = ("white", "pink", "brown"),
                       seed: int = 0) -> list[ConversationPlan]:
    """``n`` conversation plans (see the module docstring for the two modes).

    Each conversation draws its number of speakers (uniform in ``num_speakers`` when a range),
    distinct speakers, and for each speaker a number of utterances uniform in
    ``utts_per_speaker``; in ``turns`` mode that is the speaker's number of turns (they add up
    to the conversation's), the first turns introduce every speaker once, and a turn is
    ``utts_per_turn`` utterances (uniform when a range) with Exponential(``turn_pause``) pauses
    between them: one turn in the reference. A speaker's utterances are drawn without
    replacement within a conversation (cycling when a speaker has too few). ``utt2dur`` gives
    the length to place: :func:`write_conversations` places each utterance without its silent
    edges, so pass :func:`speech_durations` for the pauses and overlaps to be those planned
    (:func:`make_conversation_dir` does).
    """
    lo_spk, hi_spk = _int_range(num_speakers, "num_speakers")
    lo_utt, hi_utt = _int_range(utts_per_speaker, "utts_per_speaker")
    per_turn = _int_range(utts_per_turn, "utts_per_turn")
    if turn_pause < 0:
        raise ValueError(f"turn_pause (mean pause within a turn, seconds) must be >= 0, "
                         f"got {turn_pause}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if beta <= 0:
        raise ValueError(f"beta (mean pause, seconds) must be positive, got {beta}")
    if not 0 <= overlap_prob <= 1:
        raise ValueError(f"overlap_prob must be in [0, 1], got {overlap_prob}")
    if not 0 < overlap_fraction[0] <= overlap_fraction[1] < 1:
        raise ValueError(f"overlap_fraction must be 0 < lo <= hi < 1 (a turn cannot hide "
                         f"inside another), got {overlap_fraction}")
    unknown = sorted(set(noise_kinds) - set(NOISE_ALPHAS))
    if snr_range is not None and (unknown or not noise_kinds):
        raise ValueError(f"noise kinds must be from {sorted(NOISE_ALPHAS)}, got "
                         f"{list(noise_kinds)}")
    missing = [u for u in utt2spk if u not in utt2dur]
    if missing:
        raise ValueError(f"no duration for {len(missing)} utterance(s), e.g. {missing[:3]}")
    by_spk: dict[str, list[str]] = {}
    for utt in sorted(utt2spk):
        by_spk.setdefault(utt2spk[utt], []).append(utt)
    speakers = sorted(by_spk)
    if len(speakers) < hi_spk:
        raise ValueError(f"{hi_spk}-speaker conversations need {hi_spk} speakers; found "
                         f"{len(speakers)}: {speakers}")
    rng = np.random.default_rng(seed)
    plans = []
    for i in range(n):
        k = int(rng.integers(lo_spk, hi_spk + 1))
        chosen = [speakers[j] for j in rng.choice(len(speakers), k, replace=False)]
        counts = rng.integers(lo_utt, hi_utt + 1, size=k)
        pools = {s: _utterance_stream(by_spk[s], rng) for s in chosen}
        if mode == "eend":
            placements = _place_eend(chosen, counts, pools, utt2dur, beta, rng)
        else:
            placements = _place_turns(chosen, int(counts.sum()), pools, utt2dur, beta,
                                      overlap_prob, overlap_fraction, per_turn, turn_pause, rng)
        noise = {}
        if snr_range is not None:
            noise = {"snr_db": round(float(rng.uniform(*snr_range)), 4),
                     "noise_kind": str(noise_kinds[rng.integers(len(noise_kinds))]),
                     "noise_seed": int(rng.integers(2**31))}
        conv_id = f"conv{i:05d}-" + "-".join(sorted(chosen))
        plans.append(ConversationPlan(conv_id, tuple(sorted(placements, key=_by_start)),
                                      **noise))
    return plans


def _utterance_stream(utts: list[str], rng: np.random.Generator):
    """A speaker's utterances in random order, reshuffled each time they run out."""
    while True:
        yield from (utts[j] for j in rng.permutation(len(utts)))


def _place_eend(speakers, counts, pools, utt2dur, beta, rng) -> list[Placement]:
    """EEND Algorithm 1: per speaker, pause ~ Exp(beta) then utterance, repeated."""
    placements = []
    for speaker, count in zip(speakers, counts, strict=True):
        t = 0.0
        for _ in range(int(count)):
            utt = next(pools[speaker])
            t += float(rng.exponential(beta))
            placements.append(Placement(utt, speaker, round(t, 3)))
            t = round(t, 3) + utt2dur[utt]
    return placements


def _place_turns(speakers, num_turns, pools, utt2dur, beta, overlap_prob, overlap_fraction,
                 per_turn, turn_pause, rng) -> list[Placement]:
    """One sequence of turns alternating among speakers, with pauses or overlaps."""
    order = list(speakers)  # the first turns introduce everyone once (drawn order is random)
    while len(order) < num_turns:  # alone, a speaker just goes on after a pause
        others = [s for s in speakers if s != order[-1]] or order[-1:]
        order.append(others[rng.integers(len(others))])
    placements: list[Placement] = []
    prev_end = before_prev_end = 0.0  # ends of the last two turns (ends only ever grow)
    for turn, speaker in enumerate(order):
        utts = [next(pools[speaker]) for _ in range(int(rng.integers(per_turn[0], per_turn[1] + 1)))]
        offsets, t = [], 0.0  # each utterance's start within the turn
        for utt in utts:
            offsets.append(t)
            t = round(t + utt2dur[utt] + float(rng.exponential(turn_pause)), 3)
        dur = offsets[-1] + utt2dur[utts[-1]]
        start = None
        if placements and placements[-1].speaker != speaker and rng.random() < overlap_prob:
            # an interruption overlaps the end of the previous turn: its last utterance
            prev_dur = prev_end - placements[-1].start
            overlap = float(rng.uniform(*overlap_fraction)) * min(prev_dur, dur)
            # never before the turn before the previous has ended (and a little after, so the
            # same speaker's turns never touch): at most two people talk at once
            overlap = min(overlap, prev_end - before_prev_end - MIN_SELF_GAP_S)
            if overlap > MERGE_GAP_S:
                start = prev_end - overlap
        if start is None:
            start = prev_end + float(rng.exponential(beta))
        start = round(start, 3)  # RTTM's 1 ms grid
        placements.extend(Placement(u, speaker, round(start + o, 3), turn)
                          for u, o in zip(utts, offsets, strict=True))
        before_prev_end, prev_end = prev_end, start + dur
    return placements


# ----------------------------------------------------------------------------- statistics
def _speech_union(turns: list[Turn]) -> tuple[float, float, list[tuple[float, float]]]:
    """(speech seconds, overlapped seconds, speech regions) of turns: sweep over boundaries."""
    events = sorted([(t.start, 1) for t in turns] + [(t.end, -1) for t in turns])
    speech = overlap = 0.0
    regions: list[tuple[float, float]] = []
    active, last = 0, 0.0
    for time, step in events:
        if active >= 1:
            speech += time - last
        if active >= 2:
            overlap += time - last
        if active == 0 and step == 1:
            regions.append((time, time))
        active += step
        if active == 0:
            regions[-1] = (regions[-1][0], time)
        last = time
    return speech, overlap, regions


def overlap_ratio(turns: list[Turn]) -> float:
    """Overlapped speech time (two or more speakers) / speech time (anyone speaking)."""
    speech, overlap, _ = _speech_union(turns)
    return overlap / speech if speech > 0 else 0.0


def speech_stats(turns: list[Turn], duration: float | None = None) -> dict:
    """Counts and times of a conversation's turns.

    ``speech_s`` (anyone speaking), ``overlap_s``, ``overlap_ratio``, ``num_turns``,
    ``speaker_changes`` (consecutive turns, by start, of different speakers),
    ``overlapped_turns`` (turns that start while an earlier turn is still going on),
    ``pauses`` (silences between consecutive speech regions) and ``mean_pause_s``; with the
    recording ``duration`` also ``speech_fraction``.
    """
    turns = sorted(turns)
    speech, overlap, regions = _speech_union(turns)
    pauses = [b[0] - a[1] for a, b in pairwise(regions)]
    overlapped, latest_end = 0, None
    for t in turns:
        if latest_end is not None and t.start < latest_end:
            overlapped += 1
        latest_end = t.end if latest_end is None else max(latest_end, t.end)
    stats = {
        "speech_s": speech, "overlap_s": overlap,
        "overlap_ratio": overlap / speech if speech > 0 else 0.0,
        "num_turns": len(turns),
        "speaker_changes": sum(a.speaker != b.speaker for a, b in pairwise(turns)),
        "overlapped_turns": overlapped,
        "pauses": pauses, "mean_pause_s": float(np.mean(pauses)) if pauses else 0.0,
    }
    if duration is not None:
        stats["speech_fraction"] = speech / duration if duration > 0 else 0.0
    return stats


# ----------------------------------------------------------------------------- audio
def speech_bounds(audio: np.ndarray, sample_rate: int,
                  threshold_db: float = TRIM_DB) -> tuple[int, int]:
    """``(first, end)`` sample of the speech in an utterance, by the energy rule above."""
    hop = max(1, round(FRAME_S * sample_rate))
    frames = -(-len(audio) // hop)
    padded = np.zeros(frames * hop)
    padded[: len(audio)] = audio
    energy = np.mean(padded.reshape(frames, hop) ** 2, axis=1)
    if energy.max() <= 0:
        raise ValueError("silent audio: no speech to place")
    loud = 10 * np.log10(np.maximum(energy, 1e-30) / energy.max()) >= threshold_db
    edges = np.diff(np.concatenate([[0], loud.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long_runs = (ends - starts) * FRAME_S >= MIN_RUN_S - 1e-9
    if not long_runs.any():  # all speech is short (a single click-like word): keep it all
        long_runs[:] = True
    first, last = starts[long_runs][0], ends[long_runs][-1]
    return int(first * hop), int(min(last * hop, len(audio)))


class SpeechAudio:
    """Utterances of a data dir without their silent edges (float32, at ``sample_rate``)."""

    def __init__(self, src: DataDir, sample_rate: int, threshold_db: float = TRIM_DB,
                 lazy: bool = False) -> None:
        self.src, self.sample_rate, self.threshold_db = src, sample_rate, threshold_db
        self.audio = AudioCache(src, sample_rate, lazy)

    def __call__(self, utt: str) -> np.ndarray:
        audio = self.audio(utt)
        try:
            first, end = speech_bounds(audio, self.sample_rate, self.threshold_db)
        except ValueError as e:
            raise DataDirError(f"{self.src.path}: utterance '{utt}': {e}") from None
        return audio[first:end]


def speech_durations(speech: SpeechAudio) -> dict[str, float]:
    """Seconds of speech (silent edges cut off) of every utterance."""
    return {u: len(speech(u)) / speech.sample_rate for u in speech.src.utt_ids}


def render(plan: ConversationPlan, speech: SpeechAudio) -> tuple[np.ndarray, list[Turn]]:
    """``(audio float32 in [-PEAK, PEAK], reference turns)`` of one planned conversation."""
    rate = speech.sample_rate
    pieces = [(round(p.start * rate), speech(p.utt), p) for p in plan.placements]
    length = max(s + len(x) for s, x, _ in pieces)
    mixture = np.zeros(length)
    active = np.zeros(length, dtype=bool)
    for s, x, _ in pieces:
        mixture[s : s + len(x)] += x
        active[s : s + len(x)] = True
    turns = placed_turns([(p, s / rate, (s + len(x)) / rate) for s, x, p in pieces])
    if plan.snr_db is not None:
        noise = make_noise(plan.noise_kind, length, np.random.default_rng(plan.noise_seed))
        mixture += noise * (rms(mixture[active]) / 10 ** (plan.snr_db / 20))
    peak = float(np.abs(mixture).max())
    if peak > PEAK:  # scale down to avoid clipping, never up
        mixture *= PEAK / peak
    return mixture.astype(np.float32), merge_close_turns(turns)


def merge_close_turns(turns: list[Turn], gap: float = MERGE_GAP_S) -> list[Turn]:
    """One turn for a speaker's turns less than ``gap`` apart (the speaker never stopped)."""
    merged: list[Turn] = []
    last: dict[str, int] = {}  # speaker -> index of their latest turn in merged
    for t in sorted(turns):
        k = last.get(t.speaker)
        if k is not None and t.start < merged[k].end + gap:
            merged[k] = merged[k]._replace(end=max(merged[k].end, t.end))
        else:
            last[t.speaker] = len(merged)
            merged.append(t)
    return sorted(merged)


def write_conversations(source_dir: DataDir | str | Path, plans: Sequence[ConversationPlan],
                        out_dir: str | Path, sample_rate: int, *, threshold_db: float = TRIM_DB,
                        info: dict | None = None,
                        speech: SpeechAudio | None = None) -> tuple[DataDir, dict]:
    """Write the planned conversations (``out_dir/wav/<id>.wav``) and their data dir (see the
    module docstring); returns it and the summary statistics (also in conversations.json).
    Idempotent: wavs of an earlier run that are not in ``plans`` are removed. ``speech``
    reuses audio already read (by :func:`make_conversation_dir`)."""
    src = source_dir if isinstance(source_dir, DataDir) else DataDir.load(source_dir)
    speech = speech or SpeechAudio(src, sample_rate, threshold_db)
    if speech.sample_rate != sample_rate:
        raise ValueError(f"audio read at {speech.sample_rate} Hz, to write at {sample_rate} Hz")
    out = Path(out_dir)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    d = DataDir(path=out, wav_scp={}, utt2spk={}, utt2dur={})
    turns_by_reco, num_spk, records, per_conv = {}, {}, {}, []
    for plan in plans:
        audio, turns = render(plan, speech)
        d.wav_scp[plan.conv_id] = write_pcm16(out / "wav" / f"{plan.conv_id}.wav",
                                              to_pcm16(audio), sample_rate)
        duration = len(audio) / sample_rate
        d.utt2spk[plan.conv_id] = plan.conv_id
        d.utt2dur[plan.conv_id] = round(duration, 4)
        turns_by_reco[plan.conv_id] = turns
        num_spk[plan.conv_id] = len({t.speaker for t in turns})
        stats = speech_stats(turns, duration)
        per_conv.append({**stats, "duration_s": duration})
        records[plan.conv_id] = {
            "speakers": plan.speakers, "placements": [list(p) for p in plan.placements],
            "snr_db": plan.snr_db, "noise_kind": plan.noise_kind if plan.snr_db is not None
            else None, "noise_seed": plan.noise_seed, "num_samples": len(audio),
            "overlap_ratio": round(stats["overlap_ratio"], 4)}
    d.extra = {"reco2num_spk": num_spk}
    d.write()
    write_rttm(out / "rttm", turns_by_reco)
    summary = summarize(per_conv)
    meta = {"sample_rate": sample_rate, "source_dir": str(Path(src.path).resolve()),
            "trim_threshold_db": threshold_db, **(info or {}), "stats": summary,
            "conversations": records}
    (out / "conversations.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n",
                                            encoding="utf-8")
    for wav in (out / "wav").glob("*.wav"):
        if wav.stem not in d.wav_scp:
            wav.unlink()
    return d, summary


def summarize(per_conv: list[dict]) -> dict:
    """Corpus statistics: times pooled over conversations (ratios of sums, not means)."""
    if not per_conv:
        return {"num_recordings": 0}
    total = sum(c["duration_s"] for c in per_conv)
    speech = sum(c["speech_s"] for c in per_conv)
    pauses = [p for c in per_conv for p in c["pauses"]]
    durations = [c["duration_s"] for c in per_conv]
    return {
        "num_recordings": len(per_conv), "hours": total / 3600,
        "duration_s": {"mean": total / len(per_conv), "min": min(durations),
                       "max": max(durations)},
        "speech_fraction": speech / total if total else 0.0,
        "overlap_ratio": sum(c["overlap_s"] for c in per_conv) / speech if speech else 0.0,
        "turns_per_recording": sum(c["num_turns"] for c in per_conv) / len(per_conv),
        "speaker_changes_per_recording": (sum(c["speaker_changes"] for c in per_conv)
                                          / len(per_conv)),
        "mean_pause_s": float(np.mean(pauses)) if pauses else 0.0,
    }


def make_conversation_dir(src: DataDir | str | Path, out_dir: str | Path, n: int, *,
                          sample_rate: int | None = None, seed: int = 0,
                          threshold_db: float = TRIM_DB, info: dict | None = None,
                          **plan_options) -> tuple[DataDir, dict]:
    """Plan (on speech durations) and write ``n`` conversations from a single-speaker data dir
    with ``utt2spk``; ``plan_options`` go to :func:`plan_conversations`."""
    src = src if isinstance(src, DataDir) else DataDir.load(src)
    if src.utt2spk is None:
        raise DataDirError(f"{src.path}: no utt2spk file; conversations need the speaker of "
                           "each utterance")
    if sample_rate is None:  # the rate of the corpus itself
        sample_rate = sf.info(src.audio_source(src.utt_ids[0])[0]).samplerate
    speech = SpeechAudio(src, sample_rate, threshold_db)
    plans = plan_conversations(src.utt2spk, speech_durations(speech), n, seed=seed,
                               **plan_options)
    settings = {"seed": seed, **{k: list(v) if isinstance(v, tuple) else v
                                 for k, v in plan_options.items()}}
    return write_conversations(src, plans, out_dir, sample_rate, threshold_db=threshold_db,
                               info={**settings, **(info or {})}, speech=speech)
