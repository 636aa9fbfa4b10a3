"""Conversation simulation: plans follow their parameters, and written audio matches the rttm."""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pytest
import soundfile as sf

from audiokit.data.datadir import DataDir, read_kaldi_map
from audiokit.data.rttm import Turn, read_rttm
from audiokit.data.simulation.conversations import (
    make_conversation_dir,
    overlap_ratio,
    plan_conversations,
    speech_bounds,
    speech_stats,
)

RATE = 8000


def _corpus(num_speakers: int = 4, per_speaker: int = 30, seed: int = 0):
    """utt2spk and utt2dur of a made-up corpus, durations 0.3-1.5 s."""
    rng = np.random.default_rng(seed)
    utt2spk, utt2dur = {}, {}
    for s in range(num_speakers):
        for u in range(per_speaker):
            utt2spk[f"s{s}_u{u:02d}"] = f"s{s}"
            utt2dur[f"s{s}_u{u:02d}"] = round(float(rng.uniform(0.3, 1.5)), 3)
    return utt2spk, utt2dur


def test_plans_are_deterministic_given_the_seed():
    utt2spk, utt2dur = _corpus()
    for mode in ("eend", "turns"):
        a = plan_conversations(utt2spk, utt2dur, 20, mode=mode, seed=3, snr_range=(5, 15))
        assert a == plan_conversations(utt2spk, utt2dur, 20, mode=mode, seed=3,
                                       snr_range=(5, 15))
        assert a != plan_conversations(utt2spk, utt2dur, 20, mode=mode, seed=4,
                                       snr_range=(5, 15))
        assert all(5 <= p.snr_db <= 15 and p.noise_kind in ("white", "pink", "brown")
                   for p in a)


def test_turns_mode_statistics_match_parameters():
    utt2spk, utt2dur = _corpus()
    beta, prob, frac = 0.5, 0.3, (0.2, 0.6)
    plans = plan_conversations(utt2spk, utt2dur, 400, num_speakers=(2, 3),
                               utts_per_speaker=(4, 8), beta=beta, mode="turns",
                               overlap_prob=prob, overlap_fraction=frac, seed=1)
    overlapped = transitions = 0
    pauses = []
    for plan in plans:
        turns = plan.turns(utt2dur)
        seq = sorted(plan.placements, key=lambda p: p.start)
        speakers = {p.speaker for p in seq}
        assert 2 <= len(speakers) <= 3 and set(plan.speakers) == speakers
        # the next speaker is never the current one
        assert all(a.speaker != b.speaker for a, b in pairwise(seq))
        assert 4 * len(speakers) <= len(seq) <= 8 * len(speakers)
        # at most two people at once; nobody overlaps themselves
        for t in turns:
            assert sum(o.start <= t.start < o.end for o in turns) <= 2
            same = [o for o in turns if o.speaker == t.speaker and o is not t]
            assert all(o.end < t.start or o.start > t.end for o in same)
        stats = speech_stats(turns)
        overlapped += stats["overlapped_turns"]
        transitions += stats["num_turns"] - 1
        pauses += stats["pauses"]
        # an overlap is at most frac_hi of the shorter of the two turns
        for a, b in pairwise(turns):
            if b.start < a.end:
                shorter = min(a.end - a.start, b.end - b.start)
                assert a.end - b.start <= frac[1] * shorter + 1e-3
    assert overlapped / transitions == pytest.approx(prob, abs=0.03)
    assert np.mean(pauses) == pytest.approx(beta, abs=0.05)


def test_turns_of_several_utterances_are_one_reference_turn():
    utt2spk, utt2dur = _corpus()
    plans = plan_conversations(utt2spk, utt2dur, 200, utts_per_speaker=(3, 5), beta=0.5,
                               mode="turns", overlap_prob=0.0, utts_per_turn=(1, 4),
                               turn_pause=0.1, seed=2)
    sizes, gaps = [], []
    for plan in plans:
        by_turn: dict[int, list] = {}
        for p in plan.placements:
            by_turn.setdefault(p.turn, []).append(p)
        turns = plan.turns(utt2dur)
        assert len(turns) == len(by_turn)  # one reference turn per planned turn
        for members in by_turn.values():
            members.sort(key=lambda p: p.start)
            sizes.append(len(members))
            assert len({p.speaker for p in members}) == 1
            gaps += [b.start - (a.start + utt2dur[a.utt]) for a, b in pairwise(members)]
            first, last = members[0], members[-1]
            assert Turn(first.start, last.start + utt2dur[last.utt], first.speaker) in turns
    assert set(sizes) == {1, 2, 3, 4} and np.mean(sizes) == pytest.approx(2.5, abs=0.15)
    assert min(gaps) >= 0 and np.mean(gaps) == pytest.approx(0.1, abs=0.02)


def test_eend_mode_statistics_match_parameters():
    utt2spk, utt2dur = _corpus()
    beta = 2.0
    plans = plan_conversations(utt2spk, utt2dur, 300, num_speakers=2, utts_per_speaker=(3, 6),
                               beta=beta, mode="eend", seed=2)
    pauses = []
    for plan in plans:
        by_spk: dict[str, list] = {}
        for p in plan.placements:
            by_spk.setdefault(p.speaker, []).append(p)
        assert len(by_spk) == 2
        for placements in by_spk.values():
            assert 3 <= len(placements) <= 6
            assert len({p.utt for p in placements}) == len(placements)  # no repeats
            end = 0.0  # each utterance follows a pause from the end of the previous one
            for p in sorted(placements, key=lambda p: p.start):
                pauses.append(p.start - end)
                end = p.start + utt2dur[p.utt]
    assert min(pauses) >= 0
    assert np.mean(pauses) == pytest.approx(beta, rel=0.08)
    # independent tracks: EEND's simulation overlaps speakers without being told to
    assert any(overlap_ratio(p.turns(utt2dur)) > 0 for p in plans)


def test_plan_errors():
    utt2spk, utt2dur = _corpus(num_speakers=2)
    with pytest.raises(ValueError, match="3-speaker conversations need 3 speakers"):
        plan_conversations(utt2spk, utt2dur, 1, num_speakers=3)
    with pytest.raises(ValueError, match="mode"):
        plan_conversations(utt2spk, utt2dur, 1, mode="chat")
    with pytest.raises(ValueError, match="overlap_fraction"):
        plan_conversations(utt2spk, utt2dur, 1, mode="turns", overlap_fraction=(0.5, 1.0))
    with pytest.raises(ValueError, match="no duration"):
        plan_conversations(utt2spk, {}, 1)


def test_turns_mode_with_one_speaker_has_pauses_and_no_overlap():
    utt2spk, utt2dur = _corpus()
    plans = plan_conversations(utt2spk, utt2dur, 20, num_speakers=(1, 1), utts_per_speaker=4,
                               mode="turns", overlap_prob=1.0, utts_per_turn=(1, 2), seed=5)
    for plan in plans:
        turns = plan.turns(utt2dur)
        assert len(plan.speakers) == 1 and len(turns) == 4
        assert all(a.end < b.start for a, b in pairwise(turns))  # a speaker never overlaps
        assert overlap_ratio(turns) == 0.0


def test_overlap_ratio_and_stats_by_hand():
    turns = [Turn(0, 2, "a"), Turn(1, 3, "b"), Turn(4, 5, "a"), Turn(6.5, 7, "b")]
    assert overlap_ratio(turns) == pytest.approx(1 / 4.5)
    stats = speech_stats(turns, duration=10.0)
    assert stats["speech_s"] == pytest.approx(4.5) and stats["overlap_s"] == pytest.approx(1)
    assert stats["pauses"] == pytest.approx([1.0, 1.5])
    assert stats["speaker_changes"] == 3 and stats["overlapped_turns"] == 1
    assert stats["speech_fraction"] == pytest.approx(0.45)
    assert overlap_ratio([]) == 0


def _tone(seconds: float, freq: float, lead: float = 0.0, tail: float = 0.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return np.concatenate([np.zeros(round(lead * RATE)), 0.3 * np.sin(2 * np.pi * freq * t),
                           np.zeros(round(tail * RATE))])


def test_speech_bounds_cut_silent_edges_and_clicks():
    x = _tone(0.3, 440, lead=0.2, tail=0.1)
    assert speech_bounds(x, RATE) == (1600, 4000)
    x[:80] = 0.3  # a 10 ms click before the silence is not the start of speech
    assert speech_bounds(x, RATE) == (1600, 4000)
    x[1600:1680] *= 0.001  # a quiet start inside the word is cut on the 10 ms grid
    assert speech_bounds(x, RATE) == (1680, 4000)
    with pytest.raises(ValueError, match="silent"):
        speech_bounds(np.zeros(800), RATE)


@pytest.fixture()
def tone_dir(tmp_path):
    """A data dir of 3 speakers x 6 tones, each with silent edges of its own length; and the
    seconds of tone (speech) in each."""
    d = DataDir(path=tmp_path / "src", wav_scp={}, utt2spk={}, utt2dur={})
    tone_seconds = {}
    (tmp_path / "wav").mkdir()
    rng = np.random.default_rng(0)
    for s in range(3):
        for u in range(6):
            utt = f"s{s}_{u}"
            tone_seconds[utt] = round(float(rng.uniform(0.3, 0.8)), 2)
            x = _tone(tone_seconds[utt], 200 + 150 * s + 20 * u,
                      lead=round(float(rng.uniform(0, 0.3)), 2),
                      tail=round(float(rng.uniform(0, 0.3)), 2))
            path = tmp_path / "wav" / f"{utt}.wav"
            sf.write(path, x, RATE, subtype="PCM_16")
            d.wav_scp[utt], d.utt2spk[utt] = str(path), f"spk{s}"
            d.utt2dur[utt] = len(x) / RATE
    d.write()
    return d.path, tone_seconds


def _frame_rms(x: np.ndarray, lo: float, hi: float) -> float:
    seg = x[round(lo * RATE): round(hi * RATE)]
    return float(np.sqrt(np.mean(seg ** 2))) if len(seg) else 0.0


@pytest.mark.parametrize("mode", ["turns", "eend"])
def test_written_rttm_matches_written_audio(tone_dir, tmp_path, mode):
    src, tone_seconds = tone_dir
    out = tmp_path / f"conv_{mode}"
    options = {"seed": 0, "mode": mode, "beta": 0.5, "utts_per_speaker": (2, 3),
               "overlap_prob": 0.5}
    d, stats = make_conversation_dir(src, out, 4, **options)
    loaded = DataDir.load(out)
    assert len(loaded) == 4 and loaded.utt2spk == {r: r for r in loaded.wav_scp}
    turns = read_rttm(out / "rttm")
    assert set(turns) == set(loaded.wav_scp)
    num_spk = read_kaldi_map(out / "reco2num_spk")
    meta = json.loads((out / "conversations.json").read_text())
    assert meta["stats"]["overlap_ratio"] == pytest.approx(stats["overlap_ratio"])
    for reco, path in loaded.wav_scp.items():
        audio, rate = sf.read(path)
        assert rate == RATE and np.abs(audio).max() <= 0.9 + 1e-4
        assert len(audio) / RATE == pytest.approx(loaded.utt2dur[reco], abs=1e-4)
        assert int(num_spk[reco]) == len({t.speaker for t in turns[reco]}) == 2
        active = np.zeros(len(audio), dtype=bool)
        for t in turns[reco]:
            active[round(t.start * RATE): round(t.end * RATE)] = True
            # the turn is speech from its first to its last 10 ms (no silent edges)
            assert _frame_rms(audio, t.start, t.start + 0.01) > 0.01
            assert _frame_rms(audio, t.end - 0.01, t.end) > 0.01
        # silence outside turns (give or take RTTM's 1 ms: a file may end off the grid)
        active = np.convolve(active, np.ones(17), mode="same") > 0
        assert np.abs(audio[~active]).max(initial=0) < 2e-3
        # each placed utterance is its tone alone (silent edges cut), inside its speaker's
        # turn; in turns mode a speaker's turns never merge, so they are exactly the tones
        placed = [Turn(start, start + tone_seconds[utt], spk)
                  for utt, spk, start, *_ in meta["conversations"][reco]["placements"]]
        for p in placed:
            assert any(t.speaker == p.speaker and t.start - 1e-3 <= p.start
                       and p.end <= t.end + 1e-3 for t in turns[reco])
        if mode == "turns":
            assert len(placed) == len(turns[reco])
            for p, t in zip(sorted(placed), turns[reco], strict=True):
                assert p.speaker == t.speaker
                assert (p.start, p.end) == pytest.approx((t.start, t.end), abs=1e-3)
    # deterministic and idempotent: a rerun writes the same files; a smaller one removes wavs
    before = {p.name: p.read_bytes() for p in sorted((out / "wav").glob("*.wav"))}
    rttm = (out / "rttm").read_text()
    make_conversation_dir(src, out, 4, **options)
    assert (out / "rttm").read_text() == rttm
    assert {p.name: p.read_bytes() for p in sorted((out / "wav").glob("*.wav"))} == before
    make_conversation_dir(src, out, 2, **options)
    assert len(list((out / "wav").glob("*.wav"))) == 2 and len(read_rttm(out / "rttm")) == 2


def test_noise_at_the_planned_snr_against_speech(tone_dir, tmp_path):
    out = tmp_path / "noisy"
    make_conversation_dir(tone_dir[0], out, 3, seed=0, mode="turns", beta=0.5,
                          utts_per_speaker=2, snr_range=(10, 10), noise_kinds=("white",))
    turns = read_rttm(out / "rttm")
    for reco, path in DataDir.load(out).wav_scp.items():
        audio, _ = sf.read(path)
        active = np.zeros(len(audio), dtype=bool)
        for t in turns[reco]:
            active[round(t.start * RATE): round(t.end * RATE)] = True
        noise_rms = float(np.sqrt(np.mean(audio[~active] ** 2)))
        speech_rms = float(np.sqrt(np.mean(audio[active] ** 2)))
        # speech + independent noise: speech power = total - noise
        snr = 10 * np.log10((speech_rms ** 2 - noise_rms ** 2) / noise_rms ** 2)
        assert snr == pytest.approx(10.0, abs=1.0)
